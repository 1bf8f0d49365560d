//! Finds the shared test data through PYETWKIT_TEST_DATA (default: `../shared`
//! beside the checkout). Tests that need it skip, saying so, where it is absent.

// Each test crate uses only some of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("PYETWKIT_TEST_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    if dir.join("etl-corpus").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: no test data at {} (set PYETWKIT_TEST_DATA)",
            dir.display()
        );
        None
    }
}

pub fn corpus_dir() -> Option<PathBuf> {
    shared_dir().map(|d| d.join("etl-corpus"))
}

pub fn corpus_files() -> Vec<PathBuf> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "etl"))
        .collect();
    files.sort();
    files
}
