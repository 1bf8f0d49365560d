//! Fuzz targets (feature `fuzzing`): one function per parser of hostile
//! bytes, each panicking only when an oracle finds a real fault. libFuzzer
//! drives them (`fuzz/`, `make fuzz`); the unit tests below run them on a few
//! seeds so that they stay correct.
//!
//! Oracles: the record parser reads back what the project's writer wrote;
//! the MS-XCA decompressor inverts the test encoder. The other parsers have
//! no independent decoder here: they must not panic, and what they accept
//! must decode within the payload decoder's bounds.

use std::io::Write;

use crate::decode::{event_info, manifest, payload, tracelogging};
use crate::etl::record::{Descriptor, EVENT32, EVENT64, SYSTEM64};
use crate::etl::writer::{EtlWriter, Origin, WriterOptions};
use crate::etl::xpress;
use crate::guid::Guid;
use crate::EtlReader;

/// Bytes consumed from the front of the input, as a writer recipe.
struct Recipe<'a>(&'a [u8]);

impl Recipe<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// Reads `data` as an .etl file: whatever it holds, reading ends (an error
/// or the end), and every event it yields can be named, decoded and printed.
pub fn etl_file(data: &[u8]) {
    let Some(path) = scratch_file(data) else {
        return;
    };
    if let Ok(mut reader) = EtlReader::open(&path) {
        while let Ok(Some(event)) = reader.next_event() {
            let _ = event.name();
            let _ = event.decode();
            let _ = event.to_json();
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Drives the writer with `data` as a recipe of records, then reads the file
/// back: the reader must return exactly the records written, in order.
pub fn written_records(data: &[u8]) {
    let mut recipe = Recipe(data);
    let mut writer = EtlWriter::new(WriterOptions {
        logger_name: "fuzz".into(),
        os_major: 10,
        os_minor: 0,
        os_build: 26100,
        cpu_count: 2,
        start_time: 133_000_000_000_000_000,
        buffer_size: 4096,
    });
    let mut written = Vec::new();
    let mut ticks = 0i64;
    while let Some(kind) = recipe.byte() {
        let pid = u32::from(recipe.u16().unwrap_or(0));
        let len = recipe.u16().unwrap_or(0) as usize % 600;
        let body = recipe.bytes(len).to_vec();
        ticks += 10;
        let at = Origin {
            pid,
            tid: pid + 1,
            ticks,
        };
        let pushed = match kind % 3 {
            0 => writer.push_kernel(SYSTEM64, 0x0301, 2, at, &body),
            1 | 2 => {
                let d = Descriptor {
                    id: u16::from(kind),
                    version: 1,
                    level: kind % 6,
                    ..Descriptor::default()
                };
                let header = if kind % 3 == 1 { EVENT64 } else { EVENT32 };
                let ext: &[(u16, &[u8])] = match kind & 0x40 {
                    0 => &[],
                    _ => &[(3, &[1, 0, 0, 0])],
                };
                writer.push_event(header, Guid([kind; 16]), d, at, Guid::NIL, ext, &body)
            }
            _ => unreachable!(),
        };
        if pushed.is_ok() {
            written.push((pid, body));
        }
    }
    let Some(path) = scratch_file(&writer.finish()) else {
        return;
    };
    let mut reader = EtlReader::open(&path).expect("the writer's file opens");
    let mut read = Vec::new();
    while let Some(event) = reader.next_event().expect("the writer's file reads") {
        if event.pid.is_some_and(|p| p <= u32::from(u16::MAX)) && event.hook_id != Some(0) {
            read.push((event.pid.unwrap_or(0), event.user_data.as_slice().to_vec()));
        }
    }
    let _ = std::fs::remove_file(&path);
    assert_eq!(read, written, "the reader returns what the writer wrote");
}

/// Decompresses `data` (a hostile MS-XCA stream) within a bound, and checks
/// that compressing it, as the data it is, round-trips.
pub fn xpress_stream(data: &[u8]) {
    const LIMIT: usize = 1 << 20;
    let mut out = Vec::new();
    if xpress::decompress_at(data, &mut out, 0, LIMIT).is_ok() {
        assert!(out.len() <= LIMIT, "the output bound holds");
    }
    let packed = xpress::compress(data);
    let mut back = Vec::new();
    xpress::decompress_at(&packed, &mut back, 0, data.len()).expect("own output decodes");
    assert_eq!(back, data, "compress then decompress is the identity");
}

/// A TRACE_EVENT_INFO from hostile bytes; what parses decodes the rest of the
/// bytes as a payload within the decoder's bounds.
pub fn trace_event_info(data: &[u8]) {
    let split = data.len() / 2;
    if let Some((_, schema)) = event_info::parse_event_info(&data[..split]) {
        let _ = payload::decode(&schema, &data[split..], 8);
    }
    let _ = event_info::parse_map_info(data);
}

/// A TraceLogging schema item from hostile bytes, then a payload decoded with it.
pub fn tracelogging_schema(data: &[u8]) {
    let split = data.len() / 2;
    let _ = tracelogging::event_name(&data[..split]);
    if let Some(schema) = tracelogging::parse_schema(&data[..split]) {
        let _ = payload::decode(&schema, &data[split..], 8);
    }
}

/// A manifest from hostile bytes (XML, UTF-8 or UTF-16); every schema it
/// yields decodes an empty and a short payload within bounds.
pub fn manifest_xml(data: &[u8]) {
    if let Ok(m) = manifest::parse(data) {
        for (_, schema) in &m.schemas {
            let _ = payload::decode(schema, &[], 8);
            let _ = payload::decode(schema, &[0xAB; 64], 4);
        }
    }
}

/// Writes `data` to a fresh file in memory-backed storage where there is one.
fn scratch_file(data: &[u8]) -> Option<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = match std::path::Path::new("/dev/shm") {
        d if d.is_dir() => d.to_path_buf(),
        _ => std::env::temp_dir(),
    };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("pyetwkit-fuzz-{}-{n}.etl", std::process::id()));
    let mut f = std::fs::File::create(&path).ok()?;
    f.write_all(data).ok()?;
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_runs_on_seeds() {
        let sample = crate::build_sample().unwrap();
        etl_file(&sample);
        etl_file(&sample[..sample.len() / 2]);
        etl_file(&[]);
        written_records(&[1, 7, 0, 3, 0, 1, 2, 3, 0, 9, 0, 0, 0, 2, 4, 0, 2, 0, 5, 6]);
        written_records(&[]);
        xpress_stream(b"abcabcabcabcabc, and some more abcabc");
        xpress_stream(&[0xFF; 300]);
        trace_event_info(&[0; 300]);
        tracelogging_schema(&[5, 0, b'E', 0, 0]);
        manifest_xml(b"<instrumentationManifest/>");
        manifest_xml(&[0xFF, 0xFE, 0x3C, 0x00]);
    }
}
