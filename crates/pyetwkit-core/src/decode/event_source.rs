//! .NET EventSource providers describe themselves: at session start (and on
//! rundown) each writes its instrumentation manifest as event 0xFFFE, opcode
//! 254 ("ManifestData"), in chunks. Collected and parsed like any manifest,
//! it decodes the provider's later events in the same trace.

use crate::bytes::{u16_at, u8_at};
use crate::fast_hash::FastMap;
use crate::guid::Guid;

use super::manifest::{self, Manifest, MAX_MANIFEST_BYTES};

pub const MANIFEST_EVENT_ID: u16 = 0xFFFE;
pub const MANIFEST_OPCODE: u8 = 254;

/// Each chunk starts with: format, major and minor version, the magic 0x5B,
/// the number of chunks and this chunk's number.
const CHUNK_HEADER: usize = 8;
const MAGIC: u8 = 0x5B;
/// More chunks than any real manifest needs (each holds up to about 64 KB).
const MAX_CHUNKS: usize = 1024;

/// What one ManifestData event gave.
#[derive(Debug)]
pub enum Chunk {
    /// More chunks are needed.
    Pending,
    /// The last chunk: the whole manifest, parsed.
    Complete(Manifest),
    /// Not a manifest chunk, or the assembled manifest does not parse.
    Invalid,
}

/// Manifest chunks being collected, by provider.
#[derive(Debug, Default, Clone)]
pub struct Assembler {
    pending: FastMap<Guid, Vec<Option<Vec<u8>>>>,
}

impl Assembler {
    pub fn add(&mut self, provider: Guid, payload: &[u8]) -> Chunk {
        let (Some(format), Some(magic), Some(total), Some(number)) = (
            u8_at(payload, 0),
            u8_at(payload, 3),
            u16_at(payload, 4),
            u16_at(payload, 6),
        ) else {
            return Chunk::Invalid;
        };
        let (total, number) = (total as usize, number as usize);
        if format != 1 || magic != MAGIC || total == 0 || total > MAX_CHUNKS || number >= total {
            return Chunk::Invalid;
        }
        let chunks = self.pending.entry(provider).or_default();
        if chunks.len() != total {
            // A new manifest (or a different one): start over.
            *chunks = vec![None; total];
        }
        chunks[number] = Some(payload[CHUNK_HEADER.min(payload.len())..].to_vec());
        if chunks.iter().any(Option::is_none) {
            let held: usize = chunks.iter().flatten().map(Vec::len).sum();
            if held > MAX_MANIFEST_BYTES {
                self.pending.remove(&provider);
                return Chunk::Invalid;
            }
            return Chunk::Pending;
        }
        let whole: Vec<u8> = self
            .pending
            .remove(&provider)
            .into_iter()
            .flatten()
            .flatten()
            .flatten()
            .collect();
        // EventSource pads the XML with nuls.
        let end = whole.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        match manifest::parse(&whole[..end]) {
            Ok(m) => Chunk::Complete(m),
            Err(_) => Chunk::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<instrumentationManifest xmlns="http://schemas.microsoft.com/win/2004/08/events">
 <instrumentation><events>
  <provider name="My-Source" guid="{11111111-2222-3333-4444-555555555555}">
   <events><event value="1" version="0" task="Work" opcode="win:Start" template="T"/></events>
   <templates><template tid="T"><data name="N" inType="win:Int32"/></template></templates>
  </provider>
 </events></instrumentation>
</instrumentationManifest>"#;

    fn chunk(total: u16, number: u16, body: &[u8]) -> Vec<u8> {
        let mut c = vec![1, 1, 0, MAGIC];
        c.extend_from_slice(&total.to_le_bytes());
        c.extend_from_slice(&number.to_le_bytes());
        c.extend_from_slice(body);
        c
    }

    #[test]
    fn chunks_assemble_into_a_manifest() {
        let g = Guid([1; 16]);
        let mut a = Assembler::default();
        let (head, tail) = XML.as_bytes().split_at(100);
        assert!(matches!(a.add(g, &chunk(2, 1, tail)), Chunk::Pending));
        let Chunk::Complete(m) = a.add(g, &chunk(2, 0, head)) else {
            panic!("not assembled")
        };
        assert_eq!(m.schemas.len(), 1);
        assert_eq!(m.schemas[0].1.event_name.as_deref(), Some("Work/Start"));
    }

    #[test]
    fn bad_chunks_are_refused() {
        let g = Guid([2; 16]);
        let mut a = Assembler::default();
        assert!(matches!(a.add(g, &[1, 1, 0]), Chunk::Invalid));
        assert!(matches!(a.add(g, &chunk(1, 1, b"x")), Chunk::Invalid));
        assert!(matches!(a.add(g, &chunk(0, 0, b"x")), Chunk::Invalid));
        let mut bad_magic = chunk(1, 0, XML.as_bytes());
        bad_magic[3] = 0;
        assert!(matches!(a.add(g, &bad_magic), Chunk::Invalid));
        assert!(matches!(
            a.add(g, &chunk(1, 0, b"<not xml")),
            Chunk::Invalid
        ));
        let mut padded = XML.as_bytes().to_vec();
        padded.extend_from_slice(&[0; 7]);
        assert!(matches!(
            a.add(g, &chunk(1, 0, &padded)),
            Chunk::Complete(_)
        ));
    }
}
