//! The core's modules form layers without cycles: model ← decode ← sources ←
//! stages ← pipeline. Each file may name (`crate::...`, `super::...` resolved)
//! only modules of its own layer or of layers below. Test code is exempt.

use std::path::{Path, PathBuf};

/// The layer of a top-level module of the crate.
fn layer(module: &str) -> Option<usize> {
    Some(match module {
        "bytes" | "error" | "event" | "extended" | "fast_hash" | "guid" | "kernel" | "schema"
        | "time" | "value" => 0,
        "decode" => 1,
        "etl" | "sample" => 2,
        "stages" => 3,
        "pipeline" => 4,
        _ => return None,
    })
}

const NAMES: [&str; 5] = ["model", "decode", "sources", "stages", "pipeline"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/decode/kernel.rs` → `decode`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The non-test part of a file: everything before its `#[cfg(test)]` module.
fn production_code(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |at| &text[..at])
}

#[test]
fn every_module_uses_only_its_own_layer_or_those_below() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some(own) = layer(&module) else {
            continue; // lib.rs: the public surface, above every layer
        };
        if file.ends_with("decode/testing.rs") {
            continue; // test support
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (at, _) in production_code(&text).match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            let used: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if let Some(theirs) = layer(&used) {
                if theirs > own {
                    violations.push(format!(
                        "{} ({}) uses crate::{used} ({})",
                        file.strip_prefix(&src).unwrap().display(),
                        NAMES[own],
                        NAMES[theirs]
                    ));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(files.len() > 30, "the walk found the sources");
}
