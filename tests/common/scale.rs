//! One knob for the volume of every property test: `TPP_PROPTEST_SCALE=<factor>` multiplies
//! each property's case count (and proptest's limits on rejected draws with it, so filtered
//! strategies do not run out of rejections). Unset, every property runs the count its file
//! names, which is what CI runs.

use proptest::test_runner::Config;

/// The factor from `TPP_PROPTEST_SCALE` (1 when unset); a value that is not a positive
/// number fails the test rather than silently running the default.
pub fn factor() -> f64 {
    match std::env::var("TPP_PROPTEST_SCALE") {
        Err(_) => 1.0,
        Ok(s) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => f,
            _ => panic!("TPP_PROPTEST_SCALE={s:?}: expected a positive number such as 0.5 or 200"),
        },
    }
}

fn scaled(n: u32, f: f64) -> u32 {
    (n as f64 * f).ceil().clamp(1.0, u32::MAX as f64) as u32
}

/// The number of cases of a property whose default is `default`.
pub fn cases(default: u32) -> u32 {
    scaled(default, factor())
}

/// proptest's configuration for a property of `default` cases, scaled.
pub fn config(default: u32) -> Config {
    let f = factor();
    let base = Config::default();
    Config {
        cases: scaled(default, f),
        max_local_rejects: scaled(base.max_local_rejects, f.max(1.0)),
        max_global_rejects: scaled(base.max_global_rejects, f.max(1.0)),
        ..base
    }
}
