//! Shared test support: buffers of every dtype, the per-dtype tolerances, proptest strategies
//! for every descriptor family, and the differential harness that pits a backend against the
//! reference. A backend gets these tests by registering; nothing here names a backend.
#![allow(dead_code)]

pub mod buffers;
pub mod eq_harness;
pub mod harness;
pub mod scale;
pub mod strategies;
pub mod tolerance;
pub mod values;
