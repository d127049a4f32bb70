//! Transcendental functions as micro-op sequences (filled in below).
