//! Choosing seeds, and saying how to replay a failed one.
//!
//! A scenario is a function of one `u64` seed. [`check_seeds`] runs it for
//! each selected seed; when a run panics it prints the seed and the one-line
//! command that replays exactly that run, then fails the test:
//!
//! ```text
//! sim: FAILED with seed 0x5eed0000000000a3
//! sim: replay: SIM_SEED=0x5eed0000000000a3 cargo test -p netboot-tests --test sim_tftp -- rrq_under_loss --exact --nocapture
//! ```
//!
//! Which seeds run is chosen by the environment:
//!
//! * `SIM_SEED=<n>` (decimal or `0x` hex): that seed alone;
//! * `SIM_SEEDS=<count>`: that many seeds instead of the scenario's default;
//! * `SIM_SEEDS=<a>..<b>`: the seeds `a` up to (not including) `b`.
//!
//! Otherwise the scenario's default count runs, starting from a fixed base,
//! so CI always runs the same seeds.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// The first seed of the default range: the default seeds are `BASE`,
/// `BASE + 1`, ...
pub const BASE: u64 = 0x5eed_0000_0000_0000;

/// Parses a seed written in decimal or as `0x` hex.
///
/// ```
/// use netboot_sim::seed::parse_seed;
///
/// assert_eq!(parse_seed("42"), Some(42));
/// assert_eq!(parse_seed("0x2a"), Some(42));
/// assert_eq!(parse_seed("fish"), None);
/// ```
pub fn parse_seed(text: &str) -> Option<u64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => t.replace('_', "").parse().ok(),
    }
}

/// The seeds to run, from `SIM_SEED` / `SIM_SEEDS` or `default_count`
/// seeds from [`BASE`].
pub fn selected(default_count: u64) -> Vec<u64> {
    selected_from(
        std::env::var("SIM_SEED").ok().as_deref(),
        std::env::var("SIM_SEEDS").ok().as_deref(),
        default_count,
    )
}

/// [`selected`] with the two variables given explicitly.
///
/// ```
/// use netboot_sim::seed::{selected_from, BASE};
///
/// assert_eq!(selected_from(Some("0x10"), None, 5), [16]);
/// assert_eq!(selected_from(None, Some("3"), 5), [BASE, BASE + 1, BASE + 2]);
/// assert_eq!(selected_from(None, Some("7..9"), 5), [7, 8]);
/// assert_eq!(selected_from(None, None, 2), [BASE, BASE + 1]);
/// ```
pub fn selected_from(seed: Option<&str>, seeds: Option<&str>, default_count: u64) -> Vec<u64> {
    if let Some(s) = seed.and_then(parse_seed) {
        return vec![s];
    }
    if let Some(spec) = seeds {
        if let Some((a, b)) = spec.split_once("..")
            && let (Some(a), Some(b)) = (parse_seed(a), parse_seed(b))
        {
            return (a..b).collect();
        }
        if let Some(n) = parse_seed(spec) {
            return (0..n).map(|i| BASE.wrapping_add(i)).collect();
        }
    }
    (0..default_count).map(|i| BASE.wrapping_add(i)).collect()
}

/// The name of the running test, as libtest names its thread.
pub fn test_name() -> Option<String> {
    let t = std::thread::current();
    let name = t.name()?;
    (name != "main").then(|| name.to_string())
}

/// The test target the running binary was built from: the file name of
/// the executable without the hash cargo appends.
pub fn test_target() -> Option<String> {
    let exe = std::env::args().next()?;
    let file = std::path::Path::new(&exe)
        .file_name()?
        .to_str()?
        .to_string();
    match file.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(stem.to_string())
        }
        _ => Some(file),
    }
}

/// The command that replays `seed` of the running test.
pub fn replay_command(seed: u64) -> String {
    let mut cmd = format!("SIM_SEED={seed:#x} cargo test -p netboot-tests");
    if let Some(target) = test_target() {
        cmd += &format!(" --test {target}");
    }
    cmd += " --";
    if let Some(name) = test_name() {
        cmd += &format!(" {name} --exact");
    }
    cmd += " --nocapture";
    cmd
}

/// Prints the seed and the replay command of a failed run to stderr.
pub fn report_failure(seed: u64) {
    eprintln!("sim: FAILED with seed {seed:#x}");
    eprintln!("sim: replay: {}", replay_command(seed));
}

/// Runs `scenario` for every selected seed (see the module docs); on the
/// first failure prints the seed and its replay command and fails.
pub fn check_seeds(default_count: u64, mut scenario: impl FnMut(u64)) {
    for seed in selected(default_count) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| scenario(seed))) {
            report_failure(seed);
            resume_unwind(panic);
        }
    }
}

/// The number of cases to run: `default`, or `SIM_CASES` when set (for
/// longer soak runs than CI's).
pub fn cases(default: u32) -> u32 {
    std::env::var("SIM_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}
