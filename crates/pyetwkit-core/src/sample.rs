//! The sample recording pyetwkit ships for its quick start and examples: a
//! made-up but well-formed session in which a small app starts, serves
//! requests and exits, seen by the kernel logger and by its own providers.

use crate::etl::record::{self, Descriptor};
use crate::etl::writer::{tracelogging_items, EtlWriter, Origin, RecordTooLarge, WriterOptions};
use crate::extended::{EVENT_SCHEMA_TL, PROV_TRAITS, RELATED_ACTIVITY_ID, STACK_TRACE64};
use crate::guid::Guid;

/// The sample's TraceLogging provider.
pub const SAMPLE_PROVIDER: Guid = Guid::from_fields(
    0x6f2a1c7e,
    0x5b0d,
    0x4e8a,
    [0x9a, 0x51, 0x3c, 0x1d, 0x2b, 0x7e, 0x90, 0x44],
);
pub const SAMPLE_PROVIDER_NAME: &str = "Pyetwkit-Sample-App";
/// A manifest-style provider (no schema in the file).
pub const SAMPLE_MANIFEST_PROVIDER: Guid = Guid::from_fields(
    0x0c3e6e25,
    0x7d7b,
    0x4c2f,
    [0x8e, 0x0e, 0x62, 0x41, 0x9f, 0x1a, 0x5d, 0x33],
);
/// A classic (MOF) provider.
pub const SAMPLE_CLASSIC_PROVIDER: Guid = Guid::from_fields(
    0x3c5b8f1a,
    0x21d4,
    0x4a07,
    [0xb1, 0x6e, 0x55, 0x0f, 0x8a, 0x2c, 0x47, 0x19],
);

const APP_PID: u32 = 4242;
const APP_TID: u32 = 4243;
const PARENT_PID: u32 = 1000;
/// 2026-01-15T10:10:00Z as FILETIME.
const START: i64 = 134_129_454_000_000_000;
pub const SAMPLE_REQUESTS: u32 = 40;

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

/// Process_V4_TypeGroup1 (64-bit) payload, laid out as Microsoft documents it.
fn process_payload(pid: u32, parent: u32, image: &str, command_line: &str) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&(0xffff_a000_0000_0000u64 | pid as u64).to_le_bytes()); // UniqueProcessKey
    p.extend_from_slice(&pid.to_le_bytes());
    p.extend_from_slice(&parent.to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes()); // SessionId
    p.extend_from_slice(&259i32.to_le_bytes()); // ExitStatus (STILL_ACTIVE)
    p.extend_from_slice(&0x1ad000u64.to_le_bytes()); // DirectoryTableBase
    p.extend_from_slice(&0u32.to_le_bytes()); // Flags
                                              // UserSID: TOKEN_USER (pointer + attributes, 16 bytes) then S-1-5-21-1-2-3-1001.
    p.extend_from_slice(&0xffff_b00c_1234_5670u64.to_le_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(&[1, 5, 0, 0, 0, 0, 0, 5]);
    for sub in [21u32, 1, 2, 3, 1001] {
        p.extend_from_slice(&sub.to_le_bytes());
    }
    p.extend_from_slice(image.as_bytes());
    p.push(0);
    p.extend_from_slice(&utf16z(command_line));
    p.extend_from_slice(&utf16z("")); // PackageFullName
    p.extend_from_slice(&utf16z("")); // ApplicationId
    p
}

/// Builds the sample .etl file in memory.
pub fn build_sample() -> Result<Vec<u8>, RecordTooLarge> {
    let mut w = EtlWriter::new(WriterOptions {
        logger_name: "pyetwkit-sample".into(),
        os_major: 10,
        os_minor: 0,
        os_build: 26100,
        cpu_count: 4,
        start_time: START,
        buffer_size: 4096,
    });
    let app = |ticks: i64| Origin {
        pid: APP_PID,
        tid: APP_TID,
        ticks,
    };
    let image = "sampleapp.exe";
    let cmd = "\"C:\\Program Files\\Sample\\sampleapp.exe\" --serve --port 8080";
    w.push_kernel(
        record::SYSTEM64,
        0x0301,
        4,
        Origin {
            pid: PARENT_PID,
            tid: 1004,
            ticks: 10_000,
        },
        &process_payload(APP_PID, PARENT_PID, image, cmd),
    )?;
    // Thread/Start: ProcessId, TThreadId, then the stack and start addresses (abridged).
    let mut thread = Vec::new();
    thread.extend_from_slice(&APP_PID.to_le_bytes());
    thread.extend_from_slice(&APP_TID.to_le_bytes());
    thread.extend_from_slice(&[0; 48]);
    w.push_kernel(record::SYSTEM64, 0x0501, 3, app(10_500), &thread)?;
    // Image/Load, logged in the process group (hook 0x030A).
    let mut img = Vec::new();
    img.extend_from_slice(&0x7ff6_1234_0000u64.to_le_bytes()); // ImageBase
    img.extend_from_slice(&0x2_0000u64.to_le_bytes()); // ImageSize
    img.extend_from_slice(&APP_PID.to_le_bytes());
    // ImageChecksum, TimeDateStamp, Reserved0, DefaultBase (a pointer), Reserved1-4.
    img.extend_from_slice(&[0; 36]);
    img.extend_from_slice(&utf16z(
        "\\Device\\HarddiskVolume3\\Program Files\\Sample\\sampleapp.exe",
    ));
    w.push_kernel(record::SYSTEM64, 0x030A, 3, app(11_000), &img)?;

    let (traits, started) = tracelogging_items(SAMPLE_PROVIDER_NAME, "AppStarted", &[("Port", 8)]);
    let tl = |opcode: u8| Descriptor {
        level: 4,
        opcode,
        channel: 11,
        keywords: 0x0000_4000_0000_0000,
        ..Descriptor::default()
    };
    w.push_event(
        record::EVENT64,
        SAMPLE_PROVIDER,
        tl(1),
        app(12_000),
        Guid::NIL,
        &[(PROV_TRAITS, &traits), (EVENT_SCHEMA_TL, &started)],
        &8080u32.to_le_bytes(),
    )?;

    let (_, request) = tracelogging_items(
        SAMPLE_PROVIDER_NAME,
        "RequestCompleted",
        &[("Path", 2), ("Status", 8), ("DurationUs", 8)],
    );
    for i in 0..SAMPLE_REQUESTS {
        let t = 20_000 + i as i64 * 25_000;
        let activity = Guid::from_fields(0xa0000000 + i, 0, 0, [0, 0, 0, 0, 0, 0, 0, 1]);
        let mut payload = format!("/items/{i}").into_bytes();
        payload.push(0);
        let status: u32 = if i % 10 == 7 { 500 } else { 200 };
        payload.extend_from_slice(&status.to_le_bytes());
        payload.extend_from_slice(&(900 + 37 * i).to_le_bytes());
        let stack: Vec<u8> = [0u64, 0x7ff6_1234_1a2b, 0x7ff6_1234_0f00, 0x7ffa_0000_1000]
            .iter()
            .flat_map(|a| a.to_le_bytes())
            .collect();
        let parent = Guid::from_fields(0xa0000000, 0, 0, [0, 0, 0, 0, 0, 0, 0, 1]);
        let mut items: Vec<(u16, &[u8])> =
            vec![(PROV_TRAITS, &traits), (EVENT_SCHEMA_TL, &request)];
        if i > 0 {
            items.insert(0, (RELATED_ACTIVITY_ID, &parent.0));
        }
        if status == 500 {
            items.push((STACK_TRACE64, &stack));
        }
        w.push_event(
            record::EVENT64,
            SAMPLE_PROVIDER,
            Descriptor {
                level: if status == 500 { 2 } else { 4 },
                ..tl(0)
            },
            app(t),
            activity,
            &items,
            &payload,
        )?;
        // Manifest-style event for each request's database query (id 100, task 1).
        let mut q = Vec::new();
        q.extend_from_slice(&utf16z("SELECT * FROM items WHERE id = ?"));
        q.extend_from_slice(&(i as u64).to_le_bytes());
        let d = Descriptor {
            id: 100,
            version: 1,
            level: 5,
            task: 1,
            opcode: 0,
            keywords: 0x1,
            channel: 0,
        };
        w.push_event(
            record::EVENT64,
            SAMPLE_MANIFEST_PROVIDER,
            d,
            app(t + 5_000),
            activity,
            &[],
            &q,
        )?;
        // The kernel's sampled profile saw the app's thread (PERFINFO: no pid/tid).
        let mut sample = Vec::new();
        sample.extend_from_slice(&(0x7ff6_1234_1a2bu64 + i as u64).to_le_bytes());
        sample.extend_from_slice(&APP_TID.to_le_bytes());
        sample.extend_from_slice(&1u16.to_le_bytes());
        sample.extend_from_slice(&0u16.to_le_bytes());
        w.push_kernel(
            record::PERFINFO64,
            0x0F2E,
            2,
            Origin {
                ticks: t + 10_000,
                ..Origin::default()
            },
            &sample,
        )?;
    }
    // A classic provider's status event and a WPP message from the app's driver.
    let classic = Descriptor {
        opcode: 10,
        level: 4,
        version: 2,
        ..Descriptor::default()
    };
    w.push_classic(
        record::FULL64,
        SAMPLE_CLASSIC_PROVIDER,
        classic,
        app(1_100_000),
        b"classic status\0",
    )?;
    w.push_trace_message(
        SAMPLE_CLASSIC_PROVIDER,
        12,
        app(1_150_000),
        &7u32.to_le_bytes(),
    )?;
    // Process/End.
    let mut end = process_payload(APP_PID, PARENT_PID, image, cmd);
    end[20..24].copy_from_slice(&0i32.to_le_bytes());
    w.push_kernel(record::SYSTEM64, 0x0302, 4, app(1_200_000), &end)?;
    Ok(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::EtlReader;
    use crate::event::EventKind;

    #[test]
    fn sample_reads_back_with_what_was_written() {
        let dir = std::env::temp_dir().join(format!("pyetwkit-sample-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sample.etl");
        std::fs::write(&path, build_sample().unwrap()).unwrap();
        let reader = EtlReader::open(&path).unwrap();
        assert_eq!(reader.header().logger_name, "pyetwkit-sample");
        assert_eq!(reader.header().os_build, 26100);
        let events: Vec<_> = reader.map(|e| e.unwrap()).collect();
        // header + 3 kernel + AppStarted + 3 per request + classic + WPP + Process/End
        assert_eq!(events.len(), 1 + 3 + 1 + 3 * SAMPLE_REQUESTS as usize + 3);
        let start = &events[1];
        assert_eq!(start.provider_name().as_deref(), Some("Process"));
        assert_eq!((start.opcode, start.pid), (1, Some(PARENT_PID)));
        assert_eq!(events[3].provider_id, crate::kernel::IMAGE.guid);
        assert_eq!(events[3].opcode, 10);
        let started = &events[4];
        assert_eq!(
            started.provider_name().as_deref(),
            Some(SAMPLE_PROVIDER_NAME)
        );
        assert_eq!(started.name().as_deref(), Some("AppStarted"));
        assert_eq!(started.user_data.as_slice(), &8080u32.to_le_bytes());
        let failed: Vec<_> = events.iter().filter(|e| e.stack().is_some()).collect();
        assert_eq!(failed.len(), 4, "requests 7, 17, 27, 37 failed");
        assert_eq!(
            failed[0].stack().unwrap(),
            vec![0x7ff6_1234_1a2b, 0x7ff6_1234_0f00, 0x7ffa_0000_1000]
        );
        let wpp = events.iter().find(|e| e.kind == EventKind::Wpp).unwrap();
        assert_eq!(
            (wpp.event_id, wpp.pid, wpp.provider_id),
            (12, Some(APP_PID), SAMPLE_CLASSIC_PROVIDER)
        );
        let classic = events
            .iter()
            .find(|e| e.kind == EventKind::Classic)
            .unwrap();
        assert_eq!((classic.opcode, classic.version, classic.level), (10, 2, 4));
        assert!(events.windows(2).all(|w| w[0].filetime <= w[1].filetime));
        assert_eq!(events[0].filetime, START);
        assert_eq!(events.last().unwrap().filetime, START + 1_200_000);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
