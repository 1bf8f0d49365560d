//! KernelTraceControl's image identity events: the classic (MOF) records that
//! xperf, WPR and PerfView add to a merged kernel trace for every image it
//! loads, so that its symbols can be found on another machine (the PE file's
//! time stamp and size, its PDB's GUID, age and name, its version resource).
//!
//! The layouts and property names follow Microsoft's TraceEvent
//! (`SymbolTraceEventParser`). TraceEvent reads no `ProcessID` from most of
//! them, as it repeats the header's pid, but the bytes are there and are
//! decoded. Opcodes TraceEvent does not describe (34, 39 and 41 occur in the
//! corpus) and versions the corpus does not show are left undecoded, never
//! guessed; opcode 32 ("None") has a name but no documented layout.

use super::kernel::{read, F};
use crate::event::{EtwEvent, EventKind};
use crate::guid::Guid;
use crate::value::{Decoded, Name, Value};

/// The event GUID of the records (TraceEvent's `ImageIDTaskGuid`).
pub const IMAGE_ID_GUID: Guid = Guid::from_fields(
    0xb3e6_75d7,
    0x2554,
    0x4f18,
    [0x83, 0x0b, 0x27, 0x62, 0x73, 0x25, 0x60, 0xde],
);

pub const PROVIDER_NAME: &str = "KernelTraceControl";

/// How one field is stored: as in a kernel layout, or a GUID.
#[derive(Debug, Clone, Copy)]
enum Field {
    Mof(F),
    Guid,
}

const PTR: Field = Field::Mof(F::Ptr);
const U16: Field = Field::Mof(F::U16);
const U32: Field = Field::Mof(F::U32);
const ANSI_Z: Field = Field::Mof(F::AnsiZ);
const UTF16_Z: Field = Field::Mof(F::Utf16Z);

type Fields = &'static [(&'static str, Field)];

// ImageID: the image's base, size and time stamp, and the file name of its version resource.
const IMAGE_ID: Fields = &[
    ("ImageBase", PTR),
    ("ImageSize", PTR),
    ("ProcessID", U32),
    ("TimeDateStamp", U32),
    ("OriginalFileName", UTF16_Z),
];
// DbgID_RSDS and DbgID_ILRSDS: a CodeView RSDS record (the PDB's GUID, age and
// path, in UTF-8), of the native image or of the IL image.
const DBGID_RSDS: Fields = &[
    ("ImageBase", PTR),
    ("ProcessID", U32),
    ("GuidSig", Field::Guid),
    ("Age", U32),
    ("PdbFileName", ANSI_Z),
];
// DbgPPDB: a portable PDB's debug directory entry (version 0x100/0x504D when present).
const DBG_PPDB: Fields = &[
    ("ImageBase", PTR),
    ("ProcessID", U32),
    ("TimeDateStamp", U32),
    ("MajorVersion", U16),
    ("MinorVersion", U16),
];
// DbgDeterm: the image was built deterministically (its time stamp is a hash).
const DBG_DETERM: Fields = &[("ImageBase", PTR), ("ProcessID", U32)];
// FileVersion: the image's version resource, every string NUL-terminated.
const FILE_VERSION: Fields = &[
    ("ImageSize", U32),
    ("TimeDateStamp", U32),
    ("OrigFileName", UTF16_Z),
    ("FileDescription", UTF16_Z),
    ("FileVersion", UTF16_Z),
    ("BinFileVersion", UTF16_Z),
    ("VerLanguage", UTF16_Z),
    ("ProductName", UTF16_Z),
    ("CompanyName", UTF16_Z),
    ("ProductVersion", UTF16_Z),
    ("FileId", UTF16_Z),
    ("ProgramId", UTF16_Z),
];

/// One opcode: its event name and its layouts by exact version.
struct EventType {
    opcode: u8,
    name: &'static str,
    layouts: &'static [(u16, Fields)],
}

static EVENT_TYPES: &[EventType] = &[
    EventType {
        opcode: 0,
        name: "KernelTraceControl/ImageID",
        layouts: &[(2, IMAGE_ID)],
    },
    EventType {
        opcode: 32,
        name: "KernelTraceControl/None",
        layouts: &[],
    },
    EventType {
        opcode: 36,
        name: "KernelTraceControl/DbgID_RSDS",
        layouts: &[(2, DBGID_RSDS)],
    },
    EventType {
        opcode: 37,
        name: "KernelTraceControl/DbgID_ILRSDS",
        layouts: &[(2, DBGID_RSDS)],
    },
    EventType {
        opcode: 38,
        name: "KernelTraceControl/DbgPPDB",
        layouts: &[(2, DBG_PPDB)],
    },
    EventType {
        opcode: 40,
        name: "KernelTraceControl/DbgDeterm",
        layouts: &[(1, DBG_DETERM)],
    },
    EventType {
        opcode: 64,
        name: "KernelTraceControl/FileVersion",
        layouts: &[(0, FILE_VERSION)],
    },
];

/// Whether `event` is one of these records (classic, with the ImageID GUID).
pub fn is_image_id(event: &EtwEvent) -> bool {
    event.kind == EventKind::Classic && event.provider_id == IMAGE_ID_GUID
}

fn event_type(event: &EtwEvent) -> Option<&'static EventType> {
    if !is_image_id(event) {
        return None;
    }
    EVENT_TYPES.iter().find(|t| t.opcode == event.opcode)
}

/// `KernelTraceControl/<Opcode>` for the opcodes TraceEvent names, whatever the version.
pub fn event_name(event: &EtwEvent) -> Option<&'static str> {
    event_type(event).map(|t| t.name)
}

/// Decodes an ImageID record; `None` for other events and for opcodes and
/// versions with no known layout.
pub fn decode(event: &EtwEvent, pointer_size: usize) -> Option<Decoded> {
    let kind = event_type(event)?;
    let (_, fields) = kind.layouts.iter().find(|(v, _)| *v == event.version)?;
    let payload = event.user_data.as_slice();
    let mut properties = Vec::with_capacity(fields.len());
    let mut at = 0;
    let mut fits = true;
    for &(name, field) in *fields {
        let got = match field {
            Field::Mof(f) => read(f, payload, at, pointer_size),
            Field::Guid => Guid::from_slice(payload, at).map(|g| (Some(Value::Guid(g)), at + 16)),
        };
        let Some((value, next)) = got else {
            fits = false;
            break;
        };
        if let Some(value) = value {
            properties.push((Name::Static(name), value));
        }
        at = next;
    }
    Some(Decoded {
        name: Some(Name::Static(kind.name)),
        properties,
        complete: fits && at == payload.len(),
        trailing: payload.len().saturating_sub(at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::record::{FULL32, FULL64};
    use crate::event::SharedBytes;

    fn record(opcode: u8, version: u16, pointer_size: usize, payload: Vec<u8>) -> EtwEvent {
        let mut event = crate::decode::testing::kernel_event(0, version, pointer_size, payload);
        event.kind = EventKind::Classic;
        event.header_type = Some(if pointer_size == 4 { FULL32 } else { FULL64 });
        event.provider_id = IMAGE_ID_GUID;
        event.hook_id = None;
        event.kernel_class = None;
        event.opcode = opcode;
        event
    }

    use crate::decode::testing::Payload;

    /// Decodes `payload` through `crate::decode::decode` and checks its name and
    /// every property; then that a payload one byte short, or one byte long, is partial.
    fn check(opcode: u8, version: u16, name: &str, payload: Payload) {
        let p = payload.p;
        let event = record(opcode, version, p, payload.bytes.clone());
        assert_eq!(event.name().as_deref(), Some(name));
        assert_eq!(event.provider_name().as_deref(), Some(PROVIDER_NAME));
        let got = crate::decode::decode(&event).unwrap();
        assert_eq!(got.name.as_deref(), Some(name));
        assert_eq!(got.properties, payload.want, "{name} {p}-byte pointers");
        assert!(
            got.complete && got.trailing == 0,
            "{name} {p}-byte pointers"
        );

        let mut cut = event.clone();
        let short = payload.bytes[..payload.bytes.len() - 1].to_vec();
        cut.user_data = SharedBytes::from_vec(short);
        let partial = crate::decode::decode(&cut).unwrap();
        assert!(!partial.complete, "{name}: a cut payload is partial");
        assert!(payload.want.starts_with(&partial.properties));

        let mut long = event.clone();
        let mut more = payload.bytes.clone();
        more.push(0xAA);
        long.user_data = SharedBytes::from_vec(more);
        let padded = crate::decode::decode(&long).unwrap();
        assert!(
            !padded.complete && padded.trailing == 1,
            "{name}: a byte too many"
        );
    }

    const PDB_GUID: Guid = Guid::from_fields(
        0xec83_d8df,
        0x5559,
        0x46e0,
        [0xb6, 0x30, 0x13, 0x3e, 0xbd, 0x97, 0x92, 0x66],
    );

    #[test]
    fn every_layout_by_pointer_size() {
        for p in [4, 8] {
            let image = Payload::new(p)
                .ptr("ImageBase", 0x7771_0000)
                .ptr("ImageSize", 0x0015_7000)
                .u32("ProcessID", 4)
                .u32("TimeDateStamp", 0x5010_ae7a)
                .utf16z("OriginalFileName", "ntdll.dll");
            check(0, 2, "KernelTraceControl/ImageID", image);

            for (opcode, name) in [
                (36, "KernelTraceControl/DbgID_RSDS"),
                (37, "KernelTraceControl/DbgID_ILRSDS"),
            ] {
                let rsds = Payload::new(p)
                    .ptr("ImageBase", 0x7771_0000)
                    .u32("ProcessID", 4)
                    .guid("GuidSig", PDB_GUID)
                    .u32("Age", 2)
                    .utf8z("PdbFileName", "C:\\b\\wntdll.pdb");
                check(opcode, 2, name, rsds);
            }

            let ppdb = Payload::new(p)
                .ptr("ImageBase", 0x05df_0000)
                .u32("ProcessID", 3988)
                .u32("TimeDateStamp", 0x254e_3da0)
                .u16("MajorVersion", 0x100)
                .u16("MinorVersion", 0x504d);
            check(38, 2, "KernelTraceControl/DbgPPDB", ppdb);

            let determ = Payload::new(p)
                .ptr("ImageBase", 0x05df_0000)
                .u32("ProcessID", 3988);
            check(40, 1, "KernelTraceControl/DbgDeterm", determ);
        }
        // No pointers: one layout for both sizes.
        for p in [4, 8] {
            let version = Payload::new(p)
                .u32("ImageSize", 0x0015_7000)
                .u32("TimeDateStamp", 0x5010_ae7a)
                .utf16z("OrigFileName", "ntdll.dll")
                .utf16z("FileDescription", "NT Layer DLL")
                .utf16z("FileVersion", "6.2.9200.16384 (win8_rtm.120725-1247)")
                .utf16z("BinFileVersion", "6.2.9200.16384")
                .utf16z("VerLanguage", "1033")
                .utf16z("ProductName", "Microsoft® Windows® Operating System")
                .utf16z("CompanyName", "Microsoft Corporation")
                .utf16z("ProductVersion", "6.2.9200.16384")
                .utf16z("FileId", "")
                .utf16z("ProgramId", "");
            check(64, 0, "KernelTraceControl/FileVersion", version);
        }
    }

    #[test]
    fn unknown_opcodes_and_versions_decode_nothing() {
        let twelve = vec![0u8; 12];
        // Opcode 32 has a name but no documented layout; 34 has neither.
        let none = record(32, 2, 8, twelve.clone());
        assert_eq!(none.name().as_deref(), Some("KernelTraceControl/None"));
        assert_eq!(crate::decode::decode(&none), None);
        let unknown = record(34, 2, 8, twelve.clone());
        assert_eq!(unknown.name(), None);
        assert_eq!(unknown.provider_name().as_deref(), Some(PROVIDER_NAME));
        assert_eq!(crate::decode::decode(&unknown), None);
        // A known opcode in a version not seen in recordings.
        let newer = record(40, 2, 8, twelve.clone());
        assert_eq!(
            newer.name().as_deref(),
            Some("KernelTraceControl/DbgDeterm")
        );
        assert_eq!(crate::decode::decode(&newer), None);
        // The same GUID outside a classic record is not one of these events.
        let mut other = record(40, 1, 8, twelve);
        other.kind = EventKind::Event;
        assert_eq!(decode(&other, 8), None);
        assert_eq!(event_name(&other), None);
    }

    #[test]
    fn empty_and_tiny_payloads_are_partial_not_a_panic() {
        for (opcode, version) in [(0, 2), (36, 2), (37, 2), (38, 2), (40, 1), (64, 0)] {
            for len in 0..8 {
                let event = record(opcode, version, 8, vec![0xFF; len]);
                let got = crate::decode::decode(&event).unwrap();
                assert!(!got.complete, "opcode {opcode}, {len} bytes");
            }
        }
    }
}
