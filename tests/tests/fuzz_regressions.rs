//! Replays every committed fuzz input — the seed corpora in
//! `fuzz/corpus/<target>/` and the crash regressions in
//! `fuzz/regressions/<target>/` — through the same harness the cargo-fuzz
//! target runs (`netboot_core::fuzzing`, behind netboot-core's `fuzzing`
//! feature), on stable, in an ordinary `cargo test`. A crash found by fuzzing and kept here stays fixed.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_and_regression_input_replays_cleanly() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for (target, run) in netboot_core::fuzzing::TARGETS {
        let corpus = inputs(&fuzz.join("corpus").join(target));
        assert!(!corpus.is_empty(), "target {target} has no seed corpus");
        for input in corpus
            .iter()
            .chain(inputs(&fuzz.join("regressions").join(target)).iter())
        {
            let data = std::fs::read(input).unwrap();
            let name = input.display().to_string();
            if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
                eprintln!("fuzz regression: {target} crashes on {name}");
                std::panic::resume_unwind(panic);
            }
            replayed += 1;
        }
    }
    assert!(replayed >= netboot_core::fuzzing::TARGETS.len());
}

#[test]
fn every_target_has_a_harness_and_a_cargo_fuzz_entry() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    let mut on_disk: Vec<String> = inputs(&fuzz.join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut harnesses: Vec<String> = netboot_core::fuzzing::TARGETS
        .iter()
        .map(|(t, _)| t.to_string())
        .collect();
    harnesses.sort();
    assert_eq!(on_disk, harnesses);
    for t in &harnesses {
        assert!(
            manifest.contains(&format!("name = \"{t}\"")),
            "{t} missing from fuzz/Cargo.toml"
        );
    }
}

/// Arbitrary inputs through every harness: a cheap stand-in for a fuzzing
/// run on stable (the real runs are `.ci/run`'s nightly smoke step).
#[test]
fn random_inputs_never_break_a_harness() {
    let mut rng = netboot_core::rng::Rng::new(0xf022);
    let rounds = netboot_sim::seed::cases(200);
    for (target, run) in netboot_core::fuzzing::TARGETS {
        for _ in 0..rounds {
            let len = rng.below(600) as usize;
            let data: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
            if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
                eprintln!("{target} crashes on {data:02x?}");
                std::panic::resume_unwind(panic);
            }
        }
    }
}
