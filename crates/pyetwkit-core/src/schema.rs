//! The event schema every non-kernel decoder shares, shaped like TDH's
//! TRACE_EVENT_INFO: an ordered list of properties, each with TDH in- and
//! out-types, a count and a length that are fixed or name an earlier property,
//! an optional value or bit map, and struct members. Manifests, the metadata
//! merged traces embed, TraceLogging schemas and (on Windows) TDH itself all
//! produce this shape, so one payload decoder (`payload`) serves them all.

use std::sync::Arc;

use crate::guid::Guid;

/// Manifest events are identified by provider, id and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SchemaKey {
    pub provider: Guid,
    pub id: u16,
    pub version: u8,
}

/// TDH_INTYPE values (the numbering manifests, TRACE_EVENT_INFO and, for the
/// first 25, TraceLogging share).
pub mod in_type {
    pub const UNICODESTRING: u16 = 1;
    pub const ANSISTRING: u16 = 2;
    pub const INT8: u16 = 3;
    pub const UINT8: u16 = 4;
    pub const INT16: u16 = 5;
    pub const UINT16: u16 = 6;
    pub const INT32: u16 = 7;
    pub const UINT32: u16 = 8;
    pub const INT64: u16 = 9;
    pub const UINT64: u16 = 10;
    pub const FLOAT: u16 = 11;
    pub const DOUBLE: u16 = 12;
    /// A 4-byte BOOL.
    pub const BOOLEAN: u16 = 13;
    pub const BINARY: u16 = 14;
    pub const GUID: u16 = 15;
    pub const POINTER: u16 = 16;
    pub const FILETIME: u16 = 17;
    pub const SYSTEMTIME: u16 = 18;
    pub const SID: u16 = 19;
    pub const HEXINT32: u16 = 20;
    pub const HEXINT64: u16 = 21;
    /// UTF-16 preceded by its u16 byte count.
    pub const COUNTEDSTRING: u16 = 22;
    pub const COUNTEDANSISTRING: u16 = 23;
    pub const COUNTEDBINARY: u16 = 25;
    /// TDH's own counted UTF-16 (u16 byte count first).
    pub const TDH_COUNTEDSTRING: u16 = 300;
    /// As above with a big-endian count.
    pub const REVERSEDCOUNTEDSTRING: u16 = 301;
    pub const NONNULLTERMINATEDSTRING: u16 = 302;
    pub const NONNULLTERMINATEDANSISTRING: u16 = 303;
    pub const UNICODECHAR: u16 = 304;
    pub const ANSICHAR: u16 = 305;
    pub const SIZET: u16 = 306;
    /// A u32 byte count, then bytes.
    pub const HEXDUMP: u16 = 307;
    /// TOKEN_USER (two pointers) then a SID, as kernel MOF events store it.
    pub const WBEMSID: u16 = 308;
}

/// TDH_OUTTYPE values that change how a value is read or shown.
pub mod out_type {
    pub const STRING: u16 = 1;
    pub const DATETIME: u16 = 2;
    pub const BOOLEAN: u16 = 13;
    pub const HEXBINARY: u16 = 15;
    pub const PORT: u16 = 22;
    pub const IPV4: u16 = 23;
    pub const IPV6: u16 = 24;
    pub const SOCKETADDRESS: u16 = 25;
    pub const UTF8: u16 = 35;
}

/// How many values a property holds, or how long one value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// Count: one value. Length: the type's natural size or terminator.
    Natural,
    Fixed(u16),
    /// The value of the earlier property with this flat index.
    Property(u16),
    /// A u16 in the payload just before the values (TraceLogging's variable arrays).
    Prefixed,
}

/// A value map: integers to names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueMap {
    pub name: String,
    /// A bit map: each set bit names a flag. Else a value map: one name per value.
    pub bitmap: bool,
    /// Sorted by value.
    pub entries: Vec<(u64, String)>,
}

impl ValueMap {
    pub fn new(name: String, bitmap: bool, mut entries: Vec<(u64, String)>) -> ValueMap {
        entries.sort_by_key(|e| e.0);
        entries.dedup_by_key(|e| e.0);
        ValueMap {
            name,
            bitmap,
            entries,
        }
    }

    /// The name `value` maps to: for a bit map, the names of its set flags
    /// joined by `|`. `None` when some part of the value has no name.
    pub fn lookup(&self, value: u64) -> Option<String> {
        let find = |v: u64| {
            self.entries
                .binary_search_by_key(&v, |e| e.0)
                .ok()
                .map(|i| self.entries[i].1.as_str())
        };
        if !self.bitmap || value == 0 {
            return find(value).map(str::to_string);
        }
        let mut names = Vec::new();
        let mut rest = value;
        for (flag, name) in &self.entries {
            if *flag != 0 && value & flag == *flag {
                names.push(name.as_str());
                rest &= !flag;
            }
        }
        (rest == 0 && !names.is_empty()).then(|| names.join("|"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Scalar {
        in_type: u16,
        out_type: u16,
        map: Option<Arc<ValueMap>>,
    },
    Struct(Vec<Property>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Shared with every decoded value of this property.
    pub name: Arc<str>,
    pub kind: Kind,
    pub count: Amount,
    pub length: Amount,
    /// This property's index in the flat (TRACE_EVENT_INFO) order, which
    /// `Amount::Property` refers to.
    pub index: u16,
}

impl Property {
    pub fn scalar(name: impl Into<Arc<str>>, in_type: u16, out_type: u16) -> Property {
        Property {
            name: name.into(),
            kind: Kind::Scalar {
                in_type,
                out_type,
                map: None,
            },
            count: Amount::Natural,
            length: Amount::Natural,
            index: 0,
        }
    }
}

/// How an event's payload is laid out, and what the event and provider are called.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventSchema {
    pub provider_name: Option<String>,
    /// `Task/Opcode`, the task alone, or the event's own name.
    pub event_name: Option<Arc<str>>,
    pub properties: Vec<Property>,
    /// Whether bytes after the last property are expected. ETW's versioning
    /// rules let a newer provider append fields without a new event version,
    /// so manifest and TDH schemas allow them; TraceLogging schemas are exact.
    pub trailing_allowed: bool,
    /// How many integer values decoding must keep for counts and lengths
    /// that name other properties: the flat length, or 0 when none does.
    pub flat_len: usize,
}

impl EventSchema {
    /// Numbers the properties in decoding order (a struct before its members),
    /// the order manifests and TraceLogging refer to them in; then `finish`.
    pub fn numbered(mut self) -> Option<EventSchema> {
        fn number(props: &mut [Property], next: &mut u16) -> Option<()> {
            for p in props {
                p.index = *next;
                *next = next.checked_add(1)?;
                if let Kind::Struct(members) = &mut p.kind {
                    number(members, next)?;
                }
            }
            Some(())
        }
        number(&mut self.properties, &mut 0)?;
        self.finish()
    }

    /// Checks that flat indices are unique and that every `Amount::Property`
    /// names an integer property decoded earlier (anything else cannot be read
    /// in one pass), and sets `flat_len`. `None` if the schema is unusable.
    pub fn finish(mut self) -> Option<EventSchema> {
        fn walk(props: &[Property], seen: &mut Vec<Option<bool>>) -> Option<()> {
            for p in props {
                for amount in [p.count, p.length] {
                    if let Amount::Property(i) = amount {
                        if seen.get(i as usize).copied().flatten() != Some(true) {
                            return None;
                        }
                    }
                }
                let slot = p.index as usize;
                if seen.len() <= slot {
                    seen.resize(slot + 1, None);
                }
                if seen[slot].is_some() {
                    return None; // two properties with one index
                }
                let integer = matches!(&p.kind, Kind::Scalar { in_type, .. } if is_integer(*in_type))
                    && p.count == Amount::Natural;
                seen[slot] = Some(integer);
                if let Kind::Struct(members) = &p.kind {
                    walk(members, seen)?;
                }
            }
            Some(())
        }
        let mut seen = Vec::new();
        walk(&self.properties, &mut seen)?;
        fn refers(props: &[Property]) -> bool {
            props.iter().any(|p| {
                matches!(p.count, Amount::Property(_))
                    || matches!(p.length, Amount::Property(_))
                    || matches!(&p.kind, Kind::Struct(m) if refers(m))
            })
        }
        // Most events name no other property: they then decode without this table.
        self.flat_len = if refers(&self.properties) {
            seen.len()
        } else {
            0
        };
        Some(self)
    }
}

/// In-types whose value can serve as another property's count or length.
pub fn is_integer(in_type: u16) -> bool {
    use in_type::*;
    matches!(
        in_type,
        INT8 | UINT8 | INT16 | UINT16 | INT32 | UINT32 | INT64 | UINT64 | HEXINT32 | HEXINT64
    )
}

/// The name an event goes by: `Task/Opcode`, or the task alone for the
/// informational opcode, or a fallback (the event's symbol or name). Standard
/// opcodes (`win:Start`) go by their short names (`Start`, `DCStart`), as
/// kernel events' do.
pub fn event_name(
    task: Option<&str>,
    opcode: Option<&str>,
    fallback: Option<&str>,
) -> Option<Arc<str>> {
    let opcode = opcode
        .map(|o| standard_opcode(o).unwrap_or(o))
        .filter(|o| !o.is_empty() && *o != "Info");
    match (task.filter(|t| !t.is_empty()), opcode) {
        (Some(t), Some(o)) => Some(format!("{t}/{o}").into()),
        (Some(t), None) => Some(t.into()),
        _ => fallback.map(Arc::from),
    }
}

/// The standard opcodes of winmeta.xml, by their short names.
fn standard_opcode(name: &str) -> Option<&'static str> {
    Some(match name {
        "win:Info" => "Info",
        "win:Start" => "Start",
        "win:Stop" => "Stop",
        "win:DC_Start" => "DCStart",
        "win:DC_Stop" => "DCStop",
        "win:Extension" => "Extension",
        "win:Reply" => "Reply",
        "win:Resume" => "Resume",
        "win:Suspend" => "Suspend",
        "win:Send" => "Send",
        "win:Receive" => "Receive",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_name_values_and_flags() {
        let values = ValueMap::new(
            "v".into(),
            false,
            vec![(2, "Two".into()), (1, "One".into())],
        );
        assert_eq!(values.lookup(1).as_deref(), Some("One"));
        assert_eq!(values.lookup(3), None);
        let flags = ValueMap::new(
            "b".into(),
            true,
            vec![(0, "None".into()), (1, "Read".into()), (4, "Write".into())],
        );
        assert_eq!(flags.lookup(5).as_deref(), Some("Read|Write"));
        assert_eq!(flags.lookup(0).as_deref(), Some("None"));
        assert_eq!(
            flags.lookup(2),
            None,
            "an unnamed bit is not dropped silently"
        );
    }

    #[test]
    fn amounts_must_name_earlier_integers() {
        let mut n = Property::scalar("n", in_type::UINT32, 0);
        n.count = Amount::Natural;
        let mut s = Property::scalar("s", in_type::UNICODESTRING, 0);
        s.count = Amount::Property(0);
        let ok = EventSchema {
            properties: vec![n.clone(), s.clone()],
            ..Default::default()
        };
        assert_eq!(ok.numbered().unwrap().properties[1].index, 1);
        let forward = EventSchema {
            properties: vec![s, n],
            ..Default::default()
        };
        assert!(forward.numbered().is_none());
    }

    #[test]
    fn names_follow_task_and_opcode() {
        assert_eq!(
            event_name(Some("Proc"), Some("win:Start"), None).as_deref(),
            Some("Proc/Start")
        );
        assert_eq!(
            event_name(Some("Proc"), Some("win:DC_Stop"), None).as_deref(),
            Some("Proc/DCStop")
        );
        assert_eq!(
            event_name(Some("Proc"), Some("win:Info"), None).as_deref(),
            Some("Proc")
        );
        assert_eq!(
            event_name(None, Some("Start"), Some("Sym")).as_deref(),
            Some("Sym")
        );
    }
}
