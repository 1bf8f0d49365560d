//! Crafted files: memory and time stay bounded, and the events before a fault
//! arrive before it. Inputs are built here from the sample the writer makes.

use std::time::{Duration, Instant};

use pyetwkit_core::{build_sample, EtlError, EtlReader};

const BUFFER_HEADER: usize = 0x48;
/// Where the logfile header's BufferSize sits in the sample (after its SYSTEM64 record header).
const LOGFILE_BUFFER_SIZE_AT: usize = 0x48 + 0x20;
const FLAG_COMPRESSED: u16 = 0x0040;

/// One literal 0xFF, then one match of `n - 1` bytes at offset 1 (MS-XCA
/// plain LZ77, the 32-bit length form): 15 bytes that expand to `n` bytes of
/// 0xFF, ETW's fill for unused space, so every buffer reads as valid and empty.
fn bomb_payload(n: u32) -> Vec<u8> {
    let mut p = 0x4000_0000u32.to_le_bytes().to_vec(); // flags: literal, match
    p.push(0xFF); // the literal
    p.extend_from_slice(&7u16.to_le_bytes()); // offset 1, length 7: more follows
    p.push(0x0F); // nibble 15: a byte follows
    p.push(0xFF); // 255: a u16 follows
    p.extend_from_slice(&0u16.to_le_bytes()); // 0: a u32 follows
    p.extend_from_slice(&(n - 1 - 3).to_le_bytes());
    p
}

/// A compressed buffer header claiming `used` bytes in use, then its payload.
fn bomb_buffer(used: u32) -> Vec<u8> {
    let payload = bomb_payload(used - BUFFER_HEADER as u32);
    let mut b = vec![0u8; BUFFER_HEADER];
    b[0..4].copy_from_slice(&((BUFFER_HEADER + payload.len()) as u32).to_le_bytes());
    b[0x30..0x34].copy_from_slice(&used.to_le_bytes());
    b[0x34..0x36].copy_from_slice(&FLAG_COMPRESSED.to_le_bytes());
    b.extend(payload);
    b
}

fn write(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("pyetwkit-hostile-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

fn read_all(reader: &mut EtlReader) -> (usize, Option<EtlError>) {
    let mut n = 0;
    loop {
        match reader.next_event() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return (n, None),
            Err(e) => return (n, Some(e)),
        }
    }
}

#[test]
fn a_decompression_bomb_is_refused_streamed_and_preloaded() {
    let mut data = build_sample().unwrap();
    let intact = {
        let path = write("intact.etl", &data);
        let mut r = EtlReader::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        read_all(&mut r).0
    };
    // The logfile header claims 16 MiB buffers; 400 buffers of 87 bytes each
    // claim 16 MiB of events: 6.4 GiB from a 60 KB file.
    data[LOGFILE_BUFFER_SIZE_AT..LOGFILE_BUFFER_SIZE_AT + 4]
        .copy_from_slice(&(16u32 << 20).to_le_bytes());
    for _ in 0..400 {
        data.extend(bomb_buffer(16 << 20));
    }
    let path = write("bomb.etl", &data);
    for preload in [false, true] {
        let started = Instant::now();
        let mut r = EtlReader::open(&path).unwrap();
        if preload {
            r.preload();
        }
        let (n, error) = read_all(&mut r);
        let error = error.expect("refused");
        assert!(error.to_string().contains("decompression bomb"), "{error}");
        // The sample's own events came first; the bombs hold no record.
        assert_eq!(n, intact, "preload {preload}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_buffer_larger_than_etw_allows_is_corrupt() {
    let mut data = build_sample().unwrap();
    let mut big = bomb_buffer(16 << 20);
    big[0..4].copy_from_slice(&(32u32 << 20).to_le_bytes()); // 32 MiB on disk
    data.extend(big);
    let path = write("big.etl", &data);
    let mut r = EtlReader::open(&path).unwrap();
    let (_, error) = read_all(&mut r);
    assert!(error
        .unwrap()
        .to_string()
        .contains("implausible buffer size"));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_cut_buffer_delivers_its_whole_records_then_fails_at_the_cut_record() {
    let data = build_sample().unwrap();
    let path = write("whole.etl", &data);
    let mut offsets = Vec::new();
    let mut r = EtlReader::open(&path).unwrap();
    while let Some(e) = r.next_event().unwrap() {
        offsets.push(e.file_offset.unwrap());
    }
    // Cut one byte into each record of the second buffer in turn.
    let second: Vec<u64> = offsets
        .iter()
        .copied()
        .filter(|&o| (4096..8192).contains(&o))
        .collect();
    assert!(second.len() > 3);
    for (i, &at) in second.iter().enumerate().skip(1) {
        let cut = write("cut.etl", &data[..at as usize + 1]);
        let mut r = EtlReader::open(&cut).unwrap();
        let (n, error) = read_all(&mut r);
        let error = error.expect("the cut is an error");
        let before = offsets.iter().filter(|&&o| o < at).count();
        assert_eq!(n, before, "every whole record before the cut, record {i}");
        assert_eq!(error.offset(), Some(at), "{error}");
        assert!(error.to_string().contains("truncated"), "{error}");
        std::fs::remove_file(&cut).unwrap();
    }
    std::fs::remove_file(&path).unwrap();
}
