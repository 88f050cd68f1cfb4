//! Every corpus file and regression input in `fuzz/`, and every seed, through the checks the
//! fuzz targets run: what the fuzzers found stays fixed, on stable Rust, in the test suite.

use lifesign_fuzz_check::{TARGETS, seeds};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files directly in `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `check` on each input; the names of those that failed.
fn failures(check: lifesign_fuzz_check::Check, inputs: &[(String, Vec<u8>)]) -> Vec<String> {
    inputs
        .iter()
        .filter(|(_, bytes)| catch_unwind(AssertUnwindSafe(|| check(bytes))).is_err())
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn every_fuzz_target_has_its_check_and_a_corpus() {
    let mut targets: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .collect();
    targets.sort();
    let mut checked: Vec<String> = TARGETS.iter().map(|(t, _)| (*t).to_owned()).collect();
    checked.sort();
    assert_eq!(targets, checked, "fuzz/fuzz_targets/ against TARGETS");
    for target in &targets {
        let corpus = fuzz_dir().join("corpus").join(target);
        assert!(!files(&corpus).is_empty(), "{} is empty", corpus.display());
    }
}

#[test]
fn every_corpus_file_and_regression_holds() {
    let mut failed = Vec::new();
    let mut count = 0;
    for (target, check) in TARGETS {
        let inputs: Vec<(String, Vec<u8>)> = ["corpus", "regressions"]
            .iter()
            .flat_map(|kind| files(&fuzz_dir().join(kind).join(target)))
            .map(|p| {
                let bytes = std::fs::read(&p).expect("readable corpus file");
                (p.display().to_string(), bytes)
            })
            .collect();
        count += inputs.len();
        failed.extend(failures(*check, &inputs));
    }
    assert!(failed.is_empty(), "properties failed on: {failed:#?}");
    assert!(count > 0);
}

#[test]
fn every_seed_holds() {
    for (target, check) in TARGETS {
        let inputs: Vec<(String, Vec<u8>)> = seeds::of(target)
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("{target} seed {i}"), s))
            .collect();
        assert!(!inputs.is_empty(), "{target} has no seeds");
        let failed = failures(*check, &inputs);
        assert!(failed.is_empty(), "properties failed on: {failed:#?}");
    }
}
