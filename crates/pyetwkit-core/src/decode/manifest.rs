//! Instrumentation manifests (`.man`, or the same XML from any source): each
//! provider's events become `EventSchema`s keyed by (provider, id, version).
//! Templates give the properties, value and bit maps give names to values, and
//! tasks and opcodes name the events. Localised strings come from the
//! `en-US` string table when there is one.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use roxmltree::{Document, Node, ParsingOptions};

pub use crate::error::ManifestError;
use crate::guid::Guid;
use crate::schema::SchemaKey;
use crate::schema::{event_name, in_type, Amount, EventSchema, Kind, Property, ValueMap};

/// Manifests are text; one far beyond the largest real ones (about 1 MB) is refused.
pub const MAX_MANIFEST_BYTES: usize = 64 << 20;

/// What one manifest declares.
#[derive(Debug, Default, Clone)]
pub struct Manifest {
    pub schemas: Vec<(SchemaKey, Arc<EventSchema>)>,
    /// Provider GUID → name.
    pub providers: Vec<(Guid, String)>,
    /// Events left out because their template could not be understood, with why.
    pub skipped: Vec<String>,
}

/// Reads and parses a manifest file.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let io = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let invalid = |reason: String| ManifestError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    if meta.len() > MAX_MANIFEST_BYTES as u64 {
        return Err(invalid(format!(
            "{} bytes is too large for a manifest",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(io)?;
    parse(&bytes).map_err(invalid)
}

/// Parses manifest XML (UTF-8, or UTF-16 with a byte-order mark).
pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(format!("{} bytes is too large for a manifest", bytes.len()));
    }
    let text = to_text(bytes)?;
    let options = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(&text, options).map_err(|e| format!("not XML: {e}"))?;
    let strings = string_table(&doc);
    let mut manifest = Manifest::default();
    let mut found = false;
    // Providers of the instrumentation section; other schemas (CBS assembly
    // wrappers, for one) use `provider` elements of their own.
    let providers = doc
        .descendants()
        .filter(|n| is(n, "provider") && n.parent_element().is_some_and(|p| is(&p, "events")));
    for provider in providers {
        found = true;
        parse_provider(provider, &strings, &mut manifest)?;
    }
    if !found {
        return Err("no <provider> element: not an instrumentation manifest".into());
    }
    Ok(manifest)
}

fn to_text(bytes: &[u8]) -> Result<String, String> {
    let utf16 = |be: bool| {
        let units = bytes[2..].chunks_exact(2).map(|c| {
            if be {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| "invalid UTF-16".to_string())
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(false),
        [0xFE, 0xFF, ..] => utf16(true),
        [0xEF, 0xBB, 0xBF, rest @ ..] => {
            String::from_utf8(rest.to_vec()).map_err(|e| e.to_string())
        }
        _ => String::from_utf8(bytes.to_vec()).map_err(|e| format!("not UTF-8: {e}")),
    }
}

fn is(node: &Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name
}

fn children<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(move |n| is(n, name))
}

fn child<'a, 'input>(node: Node<'a, 'input>, name: &'static str) -> Option<Node<'a, 'input>> {
    children(node, name).next()
}

/// `$(string.Id)` references → text, from the en-US table (else the first one).
fn string_table(doc: &Document<'_>) -> HashMap<String, String> {
    let tables: Vec<Node<'_, '_>> = doc.descendants().filter(|n| is(n, "resources")).collect();
    let table = tables
        .iter()
        .find(|t| {
            t.attribute("culture")
                .is_some_and(|c| c.eq_ignore_ascii_case("en-US"))
        })
        .or(tables.first());
    let mut strings = HashMap::new();
    if let Some(table) = table {
        for s in table.descendants().filter(|n| is(n, "string")) {
            if let (Some(id), Some(value)) = (s.attribute("id"), s.attribute("value")) {
                strings.insert(id.to_string(), value.to_string());
            }
        }
    }
    strings
}

fn message(strings: &HashMap<String, String>, text: &str) -> String {
    text.strip_prefix("$(string.")
        .and_then(|t| t.strip_suffix(')'))
        .and_then(|id| strings.get(id))
        .cloned()
        .unwrap_or_else(|| text.to_string())
}

fn number(text: &str) -> Option<u64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

fn parse_provider(
    provider: Node<'_, '_>,
    strings: &HashMap<String, String>,
    manifest: &mut Manifest,
) -> Result<(), String> {
    let name = provider.attribute("name").unwrap_or_default().to_string();
    let guid: Guid = provider
        .attribute("guid")
        .ok_or_else(|| format!("provider {name:?} has no guid"))?
        .parse()
        .map_err(|_| format!("provider {name:?} has a malformed guid"))?;
    manifest.providers.push((guid, name.clone()));

    let section = |tag: &'static str| child(provider, tag).into_iter().flat_map(|n| n.children());
    let mut maps: HashMap<&str, Arc<ValueMap>> = HashMap::new();
    for map in section("maps").filter(|n| is(n, "valueMap") || is(n, "bitMap")) {
        let Some(map_name) = map.attribute("name") else {
            continue;
        };
        let entries = children(map, "map")
            .filter_map(|m| {
                let value = number(m.attribute("value")?)?;
                let text = m.attribute("message").map(|t| message(strings, t))?;
                Some((value, text.trim().to_string()))
            })
            .collect();
        maps.insert(
            map_name,
            Arc::new(ValueMap::new(
                map_name.to_string(),
                is(&map, "bitMap"),
                entries,
            )),
        );
    }
    let mut templates: HashMap<&str, Result<Vec<Property>, String>> = HashMap::new();
    for template in section("templates").filter(|n| is(n, "template")) {
        if let Some(tid) = template.attribute("tid") {
            templates.insert(tid, parse_template(template, &maps));
        }
    }

    for event in section("events").filter(|n| is(n, "event")) {
        // An event that cannot load is listed, never dropped silently.
        let value = event.attribute("value").unwrap_or("");
        let raw_version = event.attribute("version").unwrap_or("0");
        let id = number(value).and_then(|n| u16::try_from(n).ok());
        let version = number(raw_version).and_then(|n| u8::try_from(n).ok());
        let (Some(id), Some(version)) = (id, version) else {
            manifest.skipped.push(format!(
                "{name} event value={value:?} version={raw_version:?}: not an event id \
                 (0-65535) and version (0-255)"
            ));
            continue;
        };
        // Tasks and opcodes by their names: identifiers, the same in every
        // locale (their messages are translated text).
        let task = event.attribute("task");
        let opcode = event.attribute("opcode");
        let properties = match event.attribute("template") {
            None => Vec::new(),
            Some(tid) => match templates.get(tid) {
                Some(Ok(p)) => p.clone(),
                Some(Err(why)) => {
                    manifest
                        .skipped
                        .push(format!("{name} event {id} v{version}: {why}"));
                    continue;
                }
                None => {
                    manifest
                        .skipped
                        .push(format!("{name} event {id} v{version}: no template {tid:?}"));
                    continue;
                }
            },
        };
        let schema = EventSchema {
            provider_name: Some(name.clone()),
            event_name: event_name(task, opcode, event.attribute("symbol")),
            properties,
            trailing_allowed: true,
            flat_len: 0,
        };
        match schema.finish() {
            Some(schema) => manifest.schemas.push((
                SchemaKey {
                    provider: guid,
                    id,
                    version,
                },
                Arc::new(schema),
            )),
            None => manifest.skipped.push(format!(
                "{name} event {id} v{version}: a count or length names no earlier integer"
            )),
        }
    }
    Ok(())
}

/// A template's properties; `Err` says why they cannot be decoded.
fn parse_template(
    template: Node<'_, '_>,
    maps: &HashMap<&str, Arc<ValueMap>>,
) -> Result<Vec<Property>, String> {
    // Flat indices by name, in the order `EventSchema::finish` numbers them.
    let mut names: HashMap<String, u16> = HashMap::new();
    let mut next = 0u16;
    parse_members(template, maps, &mut names, &mut next, 0)
}

fn parse_members(
    parent: Node<'_, '_>,
    maps: &HashMap<&str, Arc<ValueMap>>,
    names: &mut HashMap<String, u16>,
    next: &mut u16,
    depth: usize,
) -> Result<Vec<Property>, String> {
    if depth > super::payload::MAX_DEPTH {
        return Err("structs nest too deeply".into());
    }
    let mut out = Vec::new();
    for node in parent
        .children()
        .filter(|n| is(n, "data") || is(n, "struct"))
    {
        let name = node.attribute("name").unwrap_or_default().to_string();
        let amount = |attr: &str| -> Result<Amount, String> {
            match node.attribute(attr) {
                None => Ok(Amount::Natural),
                Some(text) => match number(text) {
                    Some(n) => u16::try_from(n)
                        .map(Amount::Fixed)
                        .map_err(|_| format!("{attr} {n} of {name:?} is too large")),
                    None => names
                        .get(text)
                        .map(|&i| Amount::Property(i))
                        .ok_or_else(|| {
                            format!("{attr} of {name:?} names no earlier property {text:?}")
                        }),
                },
            }
        };
        let count = amount("count")?;
        let length = amount("length")?;
        let index = *next;
        *next = next.checked_add(1).ok_or("too many properties")?;
        names.insert(name.clone(), index);
        let kind = if is(&node, "struct") {
            Kind::Struct(parse_members(node, maps, names, next, depth + 1)?)
        } else {
            let in_name = node.attribute("inType").unwrap_or_default();
            let in_type = in_type_of(in_name)
                .ok_or_else(|| format!("{name:?} has an unknown inType {in_name:?}"))?;
            let map = match node.attribute("map") {
                None => None,
                Some(m) => Some(
                    maps.get(m)
                        .cloned()
                        .ok_or_else(|| format!("{name:?} names no map {m:?}"))?,
                ),
            };
            Kind::Scalar {
                in_type,
                out_type: node.attribute("outType").map_or(0, out_type_of),
                map,
            }
        };
        out.push(Property {
            name: name.into(),
            kind,
            count,
            length,
            index,
        });
    }
    Ok(out)
}

fn in_type_of(name: &str) -> Option<u16> {
    use in_type::*;
    Some(match name.strip_prefix("win:")? {
        "UnicodeString" => UNICODESTRING,
        "AnsiString" => ANSISTRING,
        "Int8" => INT8,
        "UInt8" => UINT8,
        "Int16" => INT16,
        "UInt16" => UINT16,
        "Int32" => INT32,
        "UInt32" => UINT32,
        "Int64" => INT64,
        "UInt64" => UINT64,
        "Float" => FLOAT,
        "Double" => DOUBLE,
        "Boolean" => BOOLEAN,
        "Binary" => BINARY,
        "GUID" => GUID,
        "Pointer" => POINTER,
        "FILETIME" => FILETIME,
        "SYSTEMTIME" => SYSTEMTIME,
        "SID" => SID,
        "HexInt32" => HEXINT32,
        "HexInt64" => HEXINT64,
        "CountedUnicodeString" => COUNTEDSTRING,
        "CountedAnsiString" => COUNTEDANSISTRING,
        "CountedBinary" => COUNTEDBINARY,
        _ => return None,
    })
}

fn out_type_of(name: &str) -> u16 {
    let local = name.split_once(':').map_or(name, |(_, l)| l);
    match local {
        "string" => 1,
        "dateTime" => 2,
        "byte" => 3,
        "unsignedByte" => 4,
        "short" => 5,
        "unsignedShort" => 6,
        "int" => 7,
        "unsignedInt" => 8,
        "long" => 9,
        "unsignedLong" => 10,
        "float" => 11,
        "double" => 12,
        "boolean" => 13,
        "GUID" => 14,
        "hexBinary" => 15,
        "HexInt8" => 16,
        "HexInt16" => 17,
        "HexInt32" => 18,
        "HexInt64" => 19,
        "PID" => 20,
        "TID" => 21,
        "Port" => 22,
        "IPv4" => 23,
        "IPv6" => 24,
        "SocketAddress" => 25,
        "CIMDateTime" => 26,
        "ETWTIME" => 27,
        "Xml" => 28,
        "ErrorCode" => 29,
        "Win32Error" => 30,
        "NTSTATUS" => 31,
        "HResult" => 32,
        "DateTimeCultureInsensitive" => 33,
        "Json" => 34,
        "Utf8" => 35,
        "Pkcs7WithTypeInfo" => 36,
        "CodePointer" => 37,
        "DateTimeUtc" => 38,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::payload::decode;
    use crate::value::Value;

    const SMALL: &str = r#"<?xml version="1.0"?>
<instrumentationManifest xmlns="http://schemas.microsoft.com/win/2004/08/events">
 <instrumentation><events>
  <provider name="Demo" guid="{11111111-2222-3333-4444-555555555555}" symbol="D">
   <events>
    <event value="1" version="2" task="Work" opcode="win:Start" template="T"/>
    <event value="2" symbol="Bare"/>
    <event value="3" template="Bad"/>
   </events>
   <tasks><task name="Work" value="1"/></tasks>
   <maps><valueMap name="Color"><map value="0x1" message="$(string.red)"/></valueMap></maps>
   <templates>
    <template tid="T">
     <data name="N" inType="win:UInt16"/>
     <data name="Path" inType="win:UnicodeString" length="N"/>
     <data name="Color" inType="win:UInt32" map="Color"/>
     <struct name="Pairs" count="2"><data name="A" inType="win:UInt8"/></struct>
    </template>
    <template tid="Bad"><data name="X" inType="win:Mystery"/></template>
   </templates>
  </provider>
 </events></instrumentation>
 <localization><resources culture="en-US"><stringTable>
  <string id="red" value="Red"/>
 </stringTable></resources></localization>
</instrumentationManifest>"#;

    #[test]
    fn templates_maps_and_names() {
        let m = parse(SMALL.as_bytes()).unwrap();
        assert_eq!(m.schemas.len(), 2);
        assert_eq!(m.skipped.len(), 1, "{:?}", m.skipped);
        let (key, schema) = &m.schemas[0];
        assert!(matches!(
            key,
            SchemaKey {
                id: 1,
                version: 2,
                ..
            }
        ));
        assert_eq!(schema.event_name.as_deref(), Some("Work/Start"));
        assert_eq!(m.schemas[1].1.event_name.as_deref(), Some("Bare"));
        let mut p = 2u16.to_le_bytes().to_vec();
        p.extend_from_slice(&[b'a', 0, b'b', 0, 1, 0, 0, 0, 7, 8]);
        let d = decode(schema, &p, 8);
        assert!(d.complete, "{d:?}");
        assert_eq!(d.properties[1].1, Value::Str("ab".into()));
        assert_eq!(d.properties[2].1, Value::Str("Red".into()));
        assert_eq!(
            d.properties[3].1,
            Value::List(vec![
                Value::Struct(vec![("A".into(), Value::U64(7))]),
                Value::Struct(vec![("A".into(), Value::U64(8))]),
            ])
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(parse(b"<a>").is_err());
        assert!(parse(b"<root/>").is_err());
        assert!(parse(&[0xFF, 0xFE, 0x3C]).is_err());
        let doctype = br#"<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#;
        assert!(
            parse(doctype).is_err(),
            "DTDs (entity expansion) are refused"
        );
    }
}
