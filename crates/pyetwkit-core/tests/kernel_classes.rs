//! The kernel hook → class table against Microsoft's MOF class documentation.

mod common;

use std::collections::BTreeMap;

use pyetwkit_core::decode::kernel::layout_properties;
use pyetwkit_core::ALL_CLASSES;

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

/// One event type class of the docs' "simplified from MOF code" syntax blocks.
#[derive(Debug)]
struct DocClass {
    file: String,
    name: String,
    base: String,
    event_types: Vec<u8>,
    /// Property name, and whether the docs give it the `Pointer` qualifier.
    properties: Vec<(String, bool)>,
    event_version: Option<u16>,
}

fn parse_doc(file: &str, text: &str) -> Option<DocClass> {
    let block = text.split("``` syntax\n").nth(1)?.split("\n```").next()?;
    let mut lines = block.lines();
    let mut event_types = Vec::new();
    let mut event_version = None;
    let class_line = loop {
        let line = lines.next()?.trim();
        if let Some(rest) = line.strip_prefix("class ") {
            break rest;
        }
        if let Some(types) = line.split("EventType").nth(1) {
            let list = types.trim_start_matches(['{', '(']);
            let list = list.split(['}', ')']).next()?;
            event_types = list
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect();
        }
        if let Some(v) = line.split("EventVersion(").nth(1) {
            event_version = v.split(')').next()?.parse().ok();
        }
    };
    let (name, base) = class_line.split_once(':')?;
    let mut properties = Vec::new();
    for line in lines {
        let Some(decl) = line.trim().strip_suffix(';').filter(|d| *d != "}") else {
            continue;
        };
        let prop = decl.split_whitespace().last()?.trim_end_matches("[]");
        // The property's own section holds its qualifiers.
        let heading = [format!("\n{prop}\n"), format!("\n**{prop}**\n")];
        let section = heading.iter().find_map(|h| text.split(h.as_str()).nth(1))?;
        let qualifiers = section.lines().find(|l| l.starts_with("Qualifiers:"))?;
        properties.push((prop.to_string(), qualifiers.contains("Pointer")));
    }
    Some(DocClass {
        file: file.to_string(),
        name: name.trim().to_string(),
        base: base.trim().to_string(),
        event_types,
        properties,
        event_version,
    })
}

/// Where a layout knowingly departs from the docs: (class, property, how).
/// See the comments at these layouts in decode/kernel.rs.
const DEPARTURES: &[(&str, &str, Departure)] = &[
    // The kernel logs a 4-byte value where the docs say `Pointer`.
    ("Registry_TypeGroup1", "Status", Departure::NotAPointer),
    ("FileIo_DirEnum", "InfoClass", Departure::NotAPointer),
    // Version 0 came from 32-bit systems, where both readings agree.
    ("Process_V0_TypeGroup1", "ProcessId", Departure::NotAPointer),
    ("Process_V0_TypeGroup1", "ParentId", Departure::NotAPointer),
    // Fields that real records carry after the documented ones.
    ("SampledProfile", "Reserved", Departure::Undocumented),
    ("Thread_TypeGroup1", "ThreadName", Departure::Undocumented),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Departure {
    NotAPointer,
    Undocumented,
}

/// The docs' event type classes (and their base classes), or `None` without test data.
fn documented_event_classes() -> Option<Vec<DocClass>> {
    let dir = common::shared_dir()?.join("manifests/kernel-mof/microsoft-docs");
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(doc) = parse_doc(&file, &std::fs::read_to_string(&path).unwrap()) {
            docs.push(doc);
        }
    }
    Some(docs)
}

/// An event type class's kernel class and event version, where both are known.
fn class_and_version(
    docs: &[DocClass],
    doc: &DocClass,
) -> Option<(&'static pyetwkit_core::KernelClass, u16)> {
    // A class's version: its base page's EventVersion (FileIo_V0 → 0, FileIo → 2).
    let version_of = |base: &str| {
        docs.iter()
            .find(|d| d.name == base)
            .and_then(|d| d.event_version)
    };
    let family = doc.base.split("_V").next().unwrap();
    let class = ALL_CLASSES.iter().find(|c| c.name == family)?;
    // Registry_V1_TypeGroup1 derives from Registry: the name's _Vn comes first.
    let named = doc
        .name
        .split('_')
        .find_map(|p| p.strip_prefix('V')?.parse().ok());
    let version = named.or(version_of(&doc.base)).or(version_of(family))?;
    Some((class, version))
}

#[test]
fn layouts_follow_the_documented_properties() {
    let Some(docs) = documented_event_classes() else {
        return;
    };
    let mut checked = std::collections::BTreeSet::new();
    let mut checked_types = std::collections::BTreeSet::new();
    for doc in docs.iter().filter(|d| !d.event_types.is_empty()) {
        let Some((class, version)) = class_and_version(&docs, doc) else {
            continue;
        };
        for &opcode in &doc.event_types {
            let Some(ours) = layout_properties(class, opcode, version) else {
                continue;
            };
            let departs = |name: &str, how| DEPARTURES.contains(&(doc.name.as_str(), name, how));
            let want: Vec<(&str, bool)> = doc
                .properties
                .iter()
                .map(|(name, pointer)| {
                    (
                        name.as_str(),
                        *pointer && !departs(name, Departure::NotAPointer),
                    )
                })
                .collect();
            let ours: Vec<(&str, bool)> = ours
                .into_iter()
                .filter(|(name, _)| !departs(name, Departure::Undocumented))
                .collect();
            assert_eq!(
                ours, want,
                "{} ({}) opcode {opcode} v{version}",
                doc.name, doc.file
            );
            checked.insert(doc.name.clone());
            checked_types.insert((doc.name.clone(), opcode));
        }
    }
    eprintln!("layouts checked against the docs: {checked:?}");
    for class in [
        "Registry_TypeGroup1",
        "Registry_V0_TypeGroup1",
        "Registry_V1_TypeGroup1",
        "FileIo_Create",
        "FileIo_DirEnum",
        "FileIo_Info",
        "FileIo_Name",
        "FileIo_OpEnd",
        "FileIo_ReadWrite",
        "FileIo_SimpleOp",
        "SystemConfig_PhyDisk",
        "SystemConfig_LogDisk",
        "SystemConfig_NIC",
        "SystemConfig_Power",
        "SystemConfig_Network",
        "SystemConfig_IDEChannel",
    ] {
        assert!(checked.contains(class), "{class} was not checked");
    }
    // Process/Defunct, where the docs describe it (versions 2 and 3).
    for class in ["Process_V2_TypeGroup1", "Process_TypeGroup1"] {
        let key = (class.to_string(), 39);
        assert!(
            checked_types.contains(&key),
            "{class} Defunct was not checked"
        );
    }
}

/// Process/Defunct (39) has a layout exactly where the docs list it, and beyond the
/// docs (versions 4 and 5, which they do not describe) the layout the kernel logs:
/// version 4 is Start's, the documented version 3 with Flags after DirectoryTableBase
/// and two package strings; version 5, Defunct's alone, adds ExitTime.
#[test]
fn process_defunct_layouts_follow_the_docs() {
    let Some(docs) = documented_event_classes() else {
        return;
    };
    let process = ALL_CLASSES.iter().find(|c| c.name == "Process").unwrap();
    let mut versions = Vec::new();
    for doc in docs.iter().filter(|d| !d.event_types.is_empty()) {
        let Some((class, version)) = class_and_version(&docs, doc) else {
            continue;
        };
        if class.name != "Process" || !doc.event_types.contains(&1) {
            continue;
        }
        let documented = doc.event_types.contains(&39);
        let ours = layout_properties(process, 39, version);
        assert_eq!(ours.is_some(), documented, "{} v{version}", doc.name);
        versions.push((version, documented));
    }
    versions.sort();
    assert_eq!(
        versions,
        [(0, false), (1, false), (2, true), (3, true)],
        "the docs' Process_TypeGroup1 versions"
    );

    let mut v4 = layout_properties(process, 39, 3).unwrap();
    let after_table = v4.iter().position(|p| p.0 == "DirectoryTableBase").unwrap() + 1;
    v4.insert(after_table, ("Flags", false));
    v4.extend([("PackageFullName", false), ("ApplicationId", false)]);
    assert_eq!(layout_properties(process, 39, 4).unwrap(), v4);
    assert_eq!(layout_properties(process, 1, 4).unwrap(), v4, "Start v4");

    let mut v5 = v4;
    v5.push(("ExitTime", false));
    assert_eq!(layout_properties(process, 39, 5).unwrap(), v5);
    for opcode in [1, 2, 3, 4] {
        assert_eq!(
            layout_properties(process, opcode, 5),
            None,
            "opcode {opcode} v5"
        );
    }
    assert_eq!(layout_properties(process, 39, 6), None);
}
