//! The kernel hook → class table against Microsoft's MOF class documentation.

mod common;

use std::collections::BTreeMap;

use pyetwkit_core::kernel::ALL_CLASSES;

/// `class name → GUID` from the docs' `[Guid("{...}")...] class Name_Vn : Base` lines.
fn documented_classes() -> Option<BTreeMap<String, String>> {
    let dir = common::shared_dir()?.join("manifests/kernel-mof/microsoft-docs");
    let mut map = BTreeMap::new();
    for entry in std::fs::read_dir(dir).ok()? {
        let text = std::fs::read_to_string(entry.ok()?.path()).ok()?;
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line.trim().strip_prefix("[Guid(\"{") else {
                continue;
            };
            let guid = rest.split('}').next()?.to_ascii_lowercase();
            let Some(class_line) = lines
                .get(i + 1)
                .and_then(|l| l.trim().strip_prefix("class "))
            else {
                continue;
            };
            let name = class_line.split([' ', ':']).next()?;
            // Versioned classes (Process_V2) share their base class's GUID.
            let base = match name.rsplit_once("_V") {
                Some((b, v)) if v.chars().all(|c| c.is_ascii_digit()) => b,
                _ => name,
            };
            map.insert(base.to_string(), guid);
        }
    }
    Some(map)
}

#[test]
fn class_guids_match_microsoft_documentation() {
    let Some(docs) = documented_classes() else {
        return;
    };
    let mut checked = 0;
    for class in ALL_CLASSES {
        let doc_name = match class.name {
            "EventTrace" => "EventTraceEvent",
            other => other,
        };
        if let Some(guid) = docs.get(doc_name) {
            assert_eq!(&class.guid.to_string(), guid, "class {}", class.name);
            checked += 1;
        }
    }
    eprintln!("checked {checked} classes");
    assert!(
        checked >= 13,
        "only {checked} classes found in the docs: {docs:?}"
    );
}
