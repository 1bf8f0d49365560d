//! Kernel (MOF) events: payload layouts by class, version and opcode, with the
//! property names of Microsoft's class documentation. Pointer-sized fields
//! follow the record's pointer size. A layout that does not account for every
//! byte, or a payload that ends early, gives a partial decode; an unknown
//! version or opcode gives only the event's name, never a guessed layout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::value::{Decoded, Value};
use crate::bytes::{array_at, utf16z_at, utf8z_at};
use crate::event::EtwEvent;
use crate::kernel::{self, KernelClass};

/// How one field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    U8,
    U16,
    I16,
    U32,
    I32,
    U64,
    /// Pointer-sized unsigned integer.
    Ptr,
    /// A `UserSID` object: TOKEN_USER then a SID, or a 4-byte null.
    Sid,
    AnsiZ,
    Utf16Z,
    /// A UTF-16 string if bytes remain (fields added by later Windows releases).
    OptUtf16Z,
    Ipv4,
    Ipv6,
    /// A port in network byte order.
    Port,
    /// The rest of the payload as pointer-sized addresses (stack walks).
    PtrList,
    /// A FILETIME (8 bytes).
    FileTime,
    /// A fixed number of bytes, kept raw.
    Bytes(usize),
    /// Padding up to the next multiple of 8 (no property).
    Pad8,
}

struct Layout {
    class: &'static KernelClass,
    opcodes: &'static [u8],
    min_version: u16,
    max_version: u16,
    fields: &'static [(&'static str, F)],
}

use F::*;

// EventTrace_Header: the logfile header record. The two strings after BuffersLost
// are not in the class documentation; they hold the session and log file names.
const EVENTTRACE_HEADER: &[(&str, F)] = &[
    ("BufferSize", U32),
    ("Version", U32),
    ("ProviderVersion", U32),
    ("NumberOfProcessors", U32),
    ("EndTime", FileTime),
    ("TimerResolution", U32),
    ("MaxFileSize", U32),
    ("LogFileMode", U32),
    ("BuffersWritten", U32),
    ("StartBuffers", U32),
    ("PointerSize", U32),
    ("EventsLost", U32),
    ("CPUSpeed", U32),
    ("LoggerName", Ptr),
    ("LogFileName", Ptr),
    ("TimeZoneInformation", Bytes(0xAC)),
    ("", Pad8),
    ("BootTime", FileTime),
    ("PerfFreq", U64),
    ("StartTime", FileTime),
    ("ReservedFlags", U32),
    ("BuffersLost", U32),
    ("SessionNameString", Utf16Z),
    ("LogFileNameString", Utf16Z),
];
const PROCESS_V0: &[(&str, F)] = &[
    ("ProcessId", U32),
    ("ParentId", U32),
    ("UserSID", Sid),
    ("ImageFileName", AnsiZ),
];
const PROCESS_V1: &[(&str, F)] = &[
    ("PageDirectoryBase", Ptr),
    ("ProcessId", U32),
    ("ParentId", U32),
    ("SessionId", U32),
    ("ExitStatus", I32),
    ("UserSID", Sid),
    ("ImageFileName", AnsiZ),
];
const PROCESS_V2: &[(&str, F)] = &[
    ("UniqueProcessKey", Ptr),
    ("ProcessId", U32),
    ("ParentId", U32),
    ("SessionId", U32),
    ("ExitStatus", I32),
    ("UserSID", Sid),
    ("ImageFileName", AnsiZ),
    ("CommandLine", Utf16Z),
];
const PROCESS_V3: &[(&str, F)] = &[
    ("UniqueProcessKey", Ptr),
    ("ProcessId", U32),
    ("ParentId", U32),
    ("SessionId", U32),
    ("ExitStatus", I32),
    ("DirectoryTableBase", Ptr),
    ("UserSID", Sid),
    ("ImageFileName", AnsiZ),
    ("CommandLine", Utf16Z),
];
const PROCESS_V4: &[(&str, F)] = &[
    ("UniqueProcessKey", Ptr),
    ("ProcessId", U32),
    ("ParentId", U32),
    ("SessionId", U32),
    ("ExitStatus", I32),
    ("DirectoryTableBase", Ptr),
    ("Flags", U32),
    ("UserSID", Sid),
    ("ImageFileName", AnsiZ),
    ("CommandLine", Utf16Z),
    ("PackageFullName", Utf16Z),
    ("ApplicationId", Utf16Z),
];
const THREAD_V2: &[(&str, F)] = &[
    ("ProcessId", U32),
    ("TThreadId", U32),
    ("StackBase", Ptr),
    ("StackLimit", Ptr),
    ("UserStackBase", Ptr),
    ("UserStackLimit", Ptr),
    ("StartAddr", Ptr),
    ("Win32StartAddr", Ptr),
    ("TebBase", Ptr),
    ("SubProcessTag", U32),
];
const THREAD_V3: &[(&str, F)] = &[
    ("ProcessId", U32),
    ("TThreadId", U32),
    ("StackBase", Ptr),
    ("StackLimit", Ptr),
    ("UserStackBase", Ptr),
    ("UserStackLimit", Ptr),
    ("Affinity", Ptr),
    ("Win32StartAddr", Ptr),
    ("TebBase", Ptr),
    ("SubProcessTag", U32),
    ("BasePriority", U8),
    ("PagePriority", U8),
    ("IoPriority", U8),
    ("ThreadFlags", U8),
    ("ThreadName", OptUtf16Z),
];
// Image_Load, for versions 2 and 3: version 3 keeps the layout (its Reserved0 carries
// the signature level and type).
const IMAGE_LOAD: &[(&str, F)] = &[
    ("ImageBase", Ptr),
    ("ImageSize", Ptr),
    ("ProcessId", U32),
    ("ImageChecksum", U32),
    ("TimeDateStamp", U32),
    ("Reserved0", U32),
    ("DefaultBase", Ptr),
    ("Reserved1", U32),
    ("Reserved2", U32),
    ("Reserved3", U32),
    ("Reserved4", U32),
    ("FileName", Utf16Z),
];
const DISKIO_RW: &[(&str, F)] = &[
    ("DiskNumber", U32),
    ("IrpFlags", U32),
    ("TransferSize", U32),
    ("Reserved", U32),
    ("ByteOffset", U64),
    ("FileObject", Ptr),
    ("Irp", Ptr),
    ("HighResResponseTime", U64),
    ("IssuingThreadId", U32),
];
const DISKIO_INIT: &[(&str, F)] = &[("Irp", Ptr), ("IssuingThreadId", U32)];
const DISKIO_FLUSH: &[(&str, F)] = &[
    ("DiskNumber", U32),
    ("IrpFlags", U32),
    ("HighResResponseTime", U64),
    ("Irp", Ptr),
    ("IssuingThreadId", U32),
];
const FILEIO_NAME: &[(&str, F)] = &[("FileObject", Ptr), ("FileName", Utf16Z)];
const TCP_V4_SEND: &[(&str, F)] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv4),
    ("saddr", Ipv4),
    ("dport", Port),
    ("sport", Port),
    ("startime", U32),
    ("endtime", U32),
    ("seqnum", U32),
    ("connid", Ptr),
];
const TCP_V4: &[(&str, F)] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv4),
    ("saddr", Ipv4),
    ("dport", Port),
    ("sport", Port),
    ("seqnum", U32),
    ("connid", Ptr),
];
const TCP_V4_CONNECT: &[(&str, F)] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv4),
    ("saddr", Ipv4),
    ("dport", Port),
    ("sport", Port),
    ("mss", U16),
    ("sackopt", U16),
    ("tsopt", U16),
    ("wsopt", U16),
    ("rcvwin", U32),
    ("rcvwinscale", I16),
    ("sndwinscale", I16),
    ("seqnum", U32),
    ("connid", Ptr),
];
const TCP_V6_SEND: &[(&str, F)] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv6),
    ("saddr", Ipv6),
    ("dport", Port),
    ("sport", Port),
    ("startime", U32),
    ("endtime", U32),
    ("seqnum", U32),
    ("connid", Ptr),
];
const TCP_V6: &[(&str, F)] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv6),
    ("saddr", Ipv6),
    ("dport", Port),
    ("sport", Port),
    ("seqnum", U32),
    ("connid", Ptr),
];
const SAMPLED_PROFILE: &[(&str, F)] = &[
    ("InstructionPointer", Ptr),
    ("ThreadId", U32),
    ("Count", U16),
    ("Reserved", U16),
];
const STACK_WALK: &[(&str, F)] = &[
    ("EventTimeStamp", U64),
    ("StackProcess", U32),
    ("StackThread", U32),
    ("Stack", PtrList),
];
const HARD_FAULT: &[(&str, F)] = &[
    ("InitialTime", U64),
    ("ReadOffset", U64),
    ("VirtualAddress", Ptr),
    ("FileObject", Ptr),
    ("TThreadId", U32),
    ("ByteCount", U32),
];

static LAYOUTS: &[Layout] = &[
    Layout {
        class: &kernel::EVENT_TRACE_CLASS,
        opcodes: &[0],
        min_version: 2,
        max_version: 2,
        fields: EVENTTRACE_HEADER,
    },
    Layout {
        class: &kernel::PROCESS,
        opcodes: &[1, 2, 3, 4, 39],
        min_version: 0,
        max_version: 0,
        fields: PROCESS_V0,
    },
    Layout {
        class: &kernel::PROCESS,
        opcodes: &[1, 2, 3, 4, 39],
        min_version: 1,
        max_version: 1,
        fields: PROCESS_V1,
    },
    Layout {
        class: &kernel::PROCESS,
        opcodes: &[1, 2, 3, 4, 39],
        min_version: 2,
        max_version: 2,
        fields: PROCESS_V2,
    },
    Layout {
        class: &kernel::PROCESS,
        opcodes: &[1, 2, 3, 4, 39],
        min_version: 3,
        max_version: 3,
        fields: PROCESS_V3,
    },
    Layout {
        class: &kernel::PROCESS,
        opcodes: &[1, 2, 3, 4, 39],
        min_version: 4,
        max_version: 4,
        fields: PROCESS_V4,
    },
    Layout {
        class: &kernel::THREAD,
        opcodes: &[1, 2, 3, 4],
        min_version: 2,
        max_version: 2,
        fields: THREAD_V2,
    },
    Layout {
        class: &kernel::THREAD,
        opcodes: &[1, 2, 3, 4],
        min_version: 3,
        max_version: 3,
        fields: THREAD_V3,
    },
    Layout {
        class: &kernel::IMAGE,
        opcodes: &[2, 3, 4, 10],
        min_version: 2,
        max_version: 3,
        fields: IMAGE_LOAD,
    },
    Layout {
        class: &kernel::DISK_IO,
        opcodes: &[10, 11],
        min_version: 2,
        max_version: 3,
        fields: DISKIO_RW,
    },
    Layout {
        class: &kernel::DISK_IO,
        opcodes: &[12, 13, 15],
        min_version: 2,
        max_version: 3,
        fields: DISKIO_INIT,
    },
    Layout {
        class: &kernel::DISK_IO,
        opcodes: &[14],
        min_version: 2,
        max_version: 3,
        fields: DISKIO_FLUSH,
    },
    Layout {
        class: &kernel::FILE_IO,
        opcodes: &[0, 32, 35, 36],
        min_version: 2,
        max_version: 2,
        fields: FILEIO_NAME,
    },
    Layout {
        class: &kernel::TCP_IP,
        opcodes: &[10],
        min_version: 2,
        max_version: 2,
        fields: TCP_V4_SEND,
    },
    Layout {
        class: &kernel::TCP_IP,
        opcodes: &[11, 13, 14, 16, 18],
        min_version: 2,
        max_version: 2,
        fields: TCP_V4,
    },
    Layout {
        class: &kernel::TCP_IP,
        opcodes: &[12, 15],
        min_version: 2,
        max_version: 2,
        fields: TCP_V4_CONNECT,
    },
    Layout {
        class: &kernel::TCP_IP,
        opcodes: &[26],
        min_version: 2,
        max_version: 2,
        fields: TCP_V6_SEND,
    },
    Layout {
        class: &kernel::TCP_IP,
        opcodes: &[27, 29, 30, 32, 34],
        min_version: 2,
        max_version: 2,
        fields: TCP_V6,
    },
    Layout {
        class: &kernel::UDP_IP,
        opcodes: &[10, 11],
        min_version: 2,
        max_version: 2,
        fields: TCP_V4,
    },
    Layout {
        class: &kernel::UDP_IP,
        opcodes: &[26, 27],
        min_version: 2,
        max_version: 2,
        fields: TCP_V6,
    },
    Layout {
        class: &kernel::PERF_INFO,
        opcodes: &[46],
        min_version: 2,
        max_version: 2,
        fields: SAMPLED_PROFILE,
    },
    Layout {
        class: &kernel::STACK_WALK,
        opcodes: &[32],
        min_version: 2,
        max_version: 2,
        fields: STACK_WALK,
    },
    Layout {
        class: &kernel::PAGE_FAULT,
        opcodes: &[32],
        min_version: 2,
        max_version: 2,
        fields: HARD_FAULT,
    },
];

/// Event type names by class and opcode, from the classes' documentation.
fn opcode_name(class: &KernelClass, opcode: u8) -> Option<&'static str> {
    let name = match (class.name, opcode) {
        ("EventTrace", 0) => "Header",
        ("EventTrace", 5) => "Extension",
        ("EventTrace", 8) => "RundownComplete",
        ("EventTrace", 32) => "EndExtension",
        ("Process" | "Thread" | "Image", 1) => "Start",
        ("Process" | "Thread", 2) => "End",
        ("Image", 2) => "Unload",
        ("Process" | "Thread" | "Image", 3) => "DCStart",
        ("Process" | "Thread" | "Image", 4) => "DCEnd",
        ("Image", 10) => "Load",
        ("Process", 11) => "Terminate",
        ("Process", 32) => "PerfCtr",
        ("Process", 33) => "PerfCtrRundown",
        ("Process", 39) => "Defunct",
        ("Thread", 36) => "CSwitch",
        ("Thread", 50) => "ReadyThread",
        ("Thread", 72) => "SetName",
        ("DiskIo", 10) => "Read",
        ("DiskIo", 11) => "Write",
        ("DiskIo", 12) => "ReadInit",
        ("DiskIo", 13) => "WriteInit",
        ("DiskIo", 14) => "FlushBuffers",
        ("DiskIo", 15) => "FlushInit",
        ("FileIo", 0) => "Name",
        ("FileIo", 32) => "FileCreate",
        ("FileIo", 35) => "FileDelete",
        ("FileIo", 36) => "FileRundown",
        ("FileIo", 64) => "Create",
        ("FileIo", 67) => "Read",
        ("FileIo", 68) => "Write",
        ("FileIo", 70) => "Delete",
        ("FileIo", 71) => "Rename",
        ("TcpIp" | "UdpIp", 10) => "Send",
        ("TcpIp" | "UdpIp", 11) => "Recv",
        ("TcpIp", 12) => "Connect",
        ("TcpIp", 13) => "Disconnect",
        ("TcpIp", 14) => "Retransmit",
        ("TcpIp", 15) => "Accept",
        ("TcpIp", 16) => "Reconnect",
        ("UdpIp", 17) => "Fail",
        ("TcpIp", 18) => "TCPCopy",
        ("TcpIp" | "UdpIp", 26) => "SendIPV6",
        ("TcpIp" | "UdpIp", 27) => "RecvIPV6",
        ("TcpIp", 28) => "ConnectIPV6",
        ("TcpIp", 29) => "DisconnectIPV6",
        ("TcpIp", 30) => "RetransmitIPV6",
        ("TcpIp", 31) => "AcceptIPV6",
        ("TcpIp", 32) => "ReconnectIPV6",
        ("TcpIp", 34) => "TCPCopyIPV6",
        ("PerfInfo", 46) => "SampleProf",
        ("PerfInfo", 51) => "SysClEnter",
        ("PerfInfo", 52) => "SysClExit",
        ("PerfInfo", 66) => "ThreadedDPC",
        ("PerfInfo", 67) => "ISR",
        ("PerfInfo", 68) => "DPC",
        ("PerfInfo", 69) => "TimerDPC",
        ("StackWalk", 32) => "Stack",
        ("PageFault", 32) => "HardFault",
        _ => return None,
    };
    Some(name)
}

/// `Class/Opcode` for a kernel event, when both are known.
pub fn event_name(event: &EtwEvent) -> Option<String> {
    let class = event.kernel_class()?;
    opcode_name(class, event.opcode).map(|op| format!("{}/{op}", class.name))
}

/// Decodes a kernel event; `None` for events that are not kernel records.
pub fn decode(event: &EtwEvent, pointer_size: usize) -> Option<Decoded> {
    let class = event.kernel_class()?;
    let name = event_name(event);
    let layout = LAYOUTS.iter().find(|l| {
        std::ptr::eq(l.class, class)
            && l.opcodes.contains(&event.opcode)
            && (l.min_version..=l.max_version).contains(&event.version)
    });
    let Some(layout) = layout else {
        // Known class, unknown layout: the name, no guessed properties.
        return Some(Decoded {
            name,
            properties: Vec::new(),
            complete: event.user_data.is_empty(),
            trailing: event.user_data.len(),
        });
    };
    let payload = event.user_data.as_slice();
    let (properties, at, fits) = read_fields(layout.fields, payload, pointer_size);
    Some(Decoded {
        name,
        properties,
        complete: fits && at == payload.len(),
        trailing: payload.len().saturating_sub(at),
    })
}

fn read_fields(
    fields: &[(&'static str, F)],
    data: &[u8],
    p: usize,
) -> (Vec<(String, Value)>, usize, bool) {
    let mut at = 0;
    let mut out = Vec::with_capacity(fields.len());
    for &(name, kind) in fields {
        match read(kind, data, at, p) {
            Some((value, next)) => {
                if let Some(v) = value {
                    out.push((name.to_string(), v));
                }
                at = next;
            }
            None => return (out, at, false),
        }
    }
    (out, at, true)
}

fn uint(data: &[u8], at: usize, size: usize) -> Option<u64> {
    match size {
        1 => data.get(at).map(|&b| b as u64),
        2 => array_at::<2>(data, at).map(|a| u16::from_le_bytes(a) as u64),
        4 => array_at::<4>(data, at).map(|a| u32::from_le_bytes(a) as u64),
        _ => array_at::<8>(data, at).map(u64::from_le_bytes),
    }
}

/// One field at `at`: its value (`None` for an absent optional field) and the next offset.
fn read(kind: F, data: &[u8], at: usize, p: usize) -> Option<(Option<Value>, usize)> {
    let fixed = |size: usize| uint(data, at, size).map(|v| (Some(Value::U64(v)), at + size));
    match kind {
        U8 => fixed(1),
        U16 => fixed(2),
        U32 => fixed(4),
        U64 => fixed(8),
        Ptr => fixed(p),
        I16 => array_at::<2>(data, at)
            .map(|a| (Some(Value::I64(i16::from_le_bytes(a) as i64)), at + 2)),
        I32 => array_at::<4>(data, at)
            .map(|a| (Some(Value::I64(i32::from_le_bytes(a) as i64)), at + 4)),
        Sid => {
            let end = crate::process::skip_sid(data, at, p)?;
            let sid = if end - at == 4 {
                Value::Null
            } else {
                data.get(at + 2 * p..end)
                    .and_then(crate::etl::extended::sid_to_string)
                    .map_or(Value::Null, Value::Sid)
            };
            Some((Some(sid), end))
        }
        AnsiZ => {
            let (s, next) = utf8z_at(data, at)?;
            // utf8z_at takes a string running to the end whole: that is a short payload.
            (data.get(next - 1) == Some(&0)).then_some((Some(Value::Str(s)), next))
        }
        Utf16Z => {
            let (s, next) = utf16z_at(data, at)?;
            (next >= at + 2 && data.get(next - 2..next) == Some(&[0, 0]))
                .then_some((Some(Value::Str(s)), next))
        }
        OptUtf16Z if at >= data.len() => Some((None, at)),
        OptUtf16Z => read(Utf16Z, data, at, p),
        Ipv4 => array_at::<4>(data, at)
            .map(|a| (Some(Value::Ip(IpAddr::V4(Ipv4Addr::from(a)))), at + 4)),
        Ipv6 => array_at::<16>(data, at)
            .map(|a| (Some(Value::Ip(IpAddr::V6(Ipv6Addr::from(a)))), at + 16)),
        Port => array_at::<2>(data, at)
            .map(|a| (Some(Value::U64(u16::from_be_bytes(a) as u64)), at + 2)),
        FileTime => {
            array_at::<8>(data, at).map(|a| (Some(Value::FileTime(i64::from_le_bytes(a))), at + 8))
        }
        Bytes(n) => data
            .get(at..at + n)
            .map(|b| (Some(Value::Bytes(b.to_vec())), at + n)),
        Pad8 => {
            let next = crate::bytes::align8(at);
            (next <= data.len()).then_some((None, next))
        }
        PtrList => {
            let rest = data.get(at..)?;
            if rest.len() % p != 0 {
                return None;
            }
            let items = rest
                .chunks_exact(p)
                .map(|c| Value::U64(uint(c, 0, p).unwrap_or(0)))
                .collect();
            Some((Some(Value::List(items)), data.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_events() -> Vec<EtwEvent> {
        let dir = std::env::temp_dir().join(format!("pyetwkit-kernel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.etl");
        std::fs::write(&path, crate::sample::build_sample().unwrap()).unwrap();
        let events = crate::etl::EtlReader::open(&path)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        events
    }

    #[test]
    fn truncated_unknown_and_padded_payloads_are_marked_partial() {
        let events = sample_events();
        let start = events
            .iter()
            .find(|e| e.name().as_deref() == Some("Process/Start"))
            .unwrap();
        let full = decode(start, 8).unwrap();
        assert!(full.complete);
        assert_eq!(full.properties.len(), PROCESS_V4.len());

        let mut cut = start.clone();
        let bytes = start.user_data.as_slice();
        cut.user_data = crate::event::SharedBytes::from_vec(bytes[..bytes.len() - 3].to_vec());
        let partial = decode(&cut, 8).unwrap();
        assert!(!partial.complete);
        assert!(partial.properties.len() < full.properties.len());

        let mut padded = start.clone();
        let mut more = bytes.to_vec();
        more.extend_from_slice(&[0xAA; 4]);
        padded.user_data = crate::event::SharedBytes::from_vec(more);
        assert!(
            !decode(&padded, 8).unwrap().complete,
            "unaccounted trailing bytes"
        );

        let mut unknown = start.clone();
        unknown.version = 9;
        let named = decode(&unknown, 8).unwrap();
        assert_eq!(named.name.as_deref(), Some("Process/Start"));
        assert!(
            named.properties.is_empty() && !named.complete,
            "never a guessed layout"
        );
    }
}
