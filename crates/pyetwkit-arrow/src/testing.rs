//! What the crate's tests share: the sample recording, each test with a file
//! of its own (tests run in parallel, and one must not read while another
//! writes).

use std::path::{Path, PathBuf};

use pyetwkit_core::stages::StagedEvents;
use pyetwkit_core::EtwEvent;

/// The sample recording written to a file named after `test`.
pub fn sample(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pyetwkit-arrow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{test}.etl"));
    std::fs::write(&path, pyetwkit_core::build_sample().unwrap()).unwrap();
    path
}

/// The events of a recording, through the stages.
pub fn events(path: &Path) -> Vec<EtwEvent> {
    StagedEvents::open(path, &[])
        .unwrap()
        .map(Result::unwrap)
        .collect()
}
