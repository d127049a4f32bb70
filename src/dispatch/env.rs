//! Run-time settings from the environment, read once.

use std::sync::OnceLock;

pub(crate) struct Settings {
    /// `TPP_TARGET`: a backend name to prefer (`None`: automatic choice).
    pub target: Option<String>,
    /// `TPP_VERBOSE=1`: log dispatches and fallbacks to stderr.
    pub verbose: bool,
}

pub(crate) fn settings() -> &'static Settings {
    static S: OnceLock<Settings> = OnceLock::new();
    S.get_or_init(|| {
        let target = std::env::var("TPP_TARGET")
            .ok()
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty() && t != "auto");
        let verbose = std::env::var("TPP_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0");
        Settings { target, verbose }
    })
}

/// Logs a line to stderr when `TPP_VERBOSE` is set.
pub(crate) fn log(msg: impl FnOnce() -> String) {
    if settings().verbose {
        eprintln!("tpp: {}", msg());
    }
}
