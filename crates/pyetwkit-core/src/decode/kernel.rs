//! Kernel (MOF) events: payload layouts by class, version and opcode, with the
//! property names of Microsoft's class documentation. Pointer-sized fields
//! follow the record's pointer size. A layout that does not account for every
//! byte, or a payload that ends early, gives a partial decode; an unknown
//! version or opcode gives only the event's name, never a guessed layout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use crate::bytes::{array_at, utf16_known, utf16_scan, utf16z_at, utf8z_at};
use crate::event::EtwEvent;
use crate::fast_hash::FastMap;
use crate::guid::Guid;
use crate::kernel::{self, KernelClass};
use crate::value::{Decoded, Name, Value};

/// How one field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum F {
    U8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    /// Pointer-sized unsigned integer.
    Ptr,
    /// A `UserSID` object: TOKEN_USER then a SID, or a 4-byte null.
    Sid,
    AnsiZ,
    Utf16Z,
    /// A UTF-16 string if bytes remain (fields added by later Windows releases).
    OptUtf16Z,
    /// A fixed-size UTF-16 array of this many code units, NUL-padded (`char16 X[]`
    /// with a `Max(n)` qualifier).
    Utf16Fixed(usize),
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
// Process/Defunct (39): a process that has exited but whose object lives on, logged
// with the DCEnd rundown. The docs give it the Process_TypeGroup1 layouts of versions
// 2 and 3, and not versions 0 and 1 (so no layout there). Version 4, not in the docs,
// is PROCESS_V4 as for Start (TraceEvent's ProcessTraceData reads it so; its
// baselines agree). Version 5 is logged for Defunct only: the version 4 fields, then
// ExitTime, a uint64 in the system's MOF class (as TDH reports it) that holds the
// FILETIME the process exited (TraceEvent reads only the version 4 fields).
const PROCESS_V5_DEFUNCT: &[(&str, F)] = &[
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
    ("ExitTime", FileTime),
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

// FileIo version 2 (fileio-*.md): IrpPtr, TTID and the file object and key are
// pointer-sized. The docs mark DirEnum's InfoClass `Pointer` too, but it is a
// 4-byte value there as in FileIo_Info (Microsoft's TraceEvent reads it so).
const FILEIO_CREATE: &[(&str, F)] = &[
    ("IrpPtr", Ptr),
    ("TTID", Ptr),
    ("FileObject", Ptr),
    ("CreateOptions", U32),
    ("FileAttributes", U32),
    ("ShareAccess", U32),
    ("OpenPath", Utf16Z),
];
const FILEIO_SIMPLE_OP: &[(&str, F)] = &[
    ("IrpPtr", Ptr),
    ("TTID", Ptr),
    ("FileObject", Ptr),
    ("FileKey", Ptr),
];
const FILEIO_READ_WRITE: &[(&str, F)] = &[
    ("Offset", U64),
    ("IrpPtr", Ptr),
    ("TTID", Ptr),
    ("FileObject", Ptr),
    ("FileKey", Ptr),
    ("IoSize", U32),
    ("IoFlags", U32),
];
const FILEIO_INFO: &[(&str, F)] = &[
    ("IrpPtr", Ptr),
    ("TTID", Ptr),
    ("FileObject", Ptr),
    ("FileKey", Ptr),
    ("ExtraInfo", Ptr),
    ("InfoClass", U32),
];
const FILEIO_DIR_ENUM: &[(&str, F)] = &[
    ("IrpPtr", Ptr),
    ("TTID", Ptr),
    ("FileObject", Ptr),
    ("FileKey", Ptr),
    ("Length", U32),
    ("InfoClass", U32),
    ("FileIndex", U32),
    ("FileName", Utf16Z),
];
const FILEIO_OP_END: &[(&str, F)] = &[("IrpPtr", Ptr), ("ExtraInfo", Ptr), ("NtStatus", U32)];
const REGISTRY_V0: &[(&str, F)] = &[
    ("Status", Ptr),
    ("KeyHandle", Ptr),
    ("ElapsedTime", I64),
    ("KeyName", Utf16Z),
];
const REGISTRY_V1: &[(&str, F)] = &[
    ("Status", Ptr),
    ("KeyHandle", Ptr),
    ("ElapsedTime", I64),
    ("Index", U32),
    ("KeyName", Utf16Z),
];
// Registry_TypeGroup1 (version 2). The docs carry the `Pointer` qualifier of the
// older versions' Status over to this one, but from version 2 on the kernel logs
// a 4-byte NTSTATUS after InitialTime (WMI_REGISTRY: LONGLONG, ULONG, ULONG, PVOID).
const REGISTRY_V2: &[(&str, F)] = &[
    ("InitialTime", I64),
    ("Status", U32),
    ("Index", U32),
    ("KeyHandle", Ptr),
    ("KeyName", Utf16Z),
];
// SystemConfig version 2 (systemconfig-*.md), only the event types whose corpus
// records decode completely; the others (CPU and Services are logged as version 3,
// PnP as 4 and 5, IRQ as 3 by the recorded systems) keep their name only.
const SYSCONFIG_PHYDISK: &[(&str, F)] = &[
    ("DiskNumber", U32),
    ("BytesPerSector", U32),
    ("SectorsPerTrack", U32),
    ("TracksPerCylinder", U32),
    ("Cylinders", U64),
    ("SCSIPort", U32),
    ("SCSIPath", U32),
    ("SCSITarget", U32),
    ("SCSILun", U32),
    ("Manufacturer", Utf16Fixed(256)),
    ("PartitionCount", U32),
    ("WriteCacheEnabled", U8),
    ("Pad", U8),
    ("BootDriveLetter", Utf16Fixed(3)),
    ("Spare", Utf16Fixed(2)),
];
const SYSCONFIG_LOGDISK: &[(&str, F)] = &[
    ("StartOffset", U64),
    ("PartitionSize", U64),
    ("DiskNumber", U32),
    ("Size", U32),
    ("DriveType", U32),
    ("DriveLetterString", Utf16Fixed(4)),
    ("Pad1", U32),
    ("PartitionNumber", U32),
    ("SectorsPerCluster", U32),
    ("BytesPerSector", U32),
    ("Pad2", U32),
    ("NumberOfFreeClusters", I64),
    ("TotalNumberOfClusters", I64),
    ("FileSystem", Utf16Fixed(16)),
    ("VolumeExt", U32),
    ("Pad3", U32),
];
const SYSCONFIG_NIC: &[(&str, F)] = &[
    ("PhysicalAddr", U64),
    ("PhysicalAddrLen", U32),
    ("Ipv4Index", U32),
    ("Ipv6Index", U32),
    ("NICDescription", Utf16Z),
    ("IpAddresses", Utf16Z),
    ("DnsServerAddresses", Utf16Z),
];
const SYSCONFIG_POWER: &[(&str, F)] = &[
    ("s1", U8),
    ("s2", U8),
    ("s3", U8),
    ("s4", U8),
    ("s5", U8),
    ("Pad1", U8),
    ("Pad2", U8),
    ("Pad3", U8),
];
const SYSCONFIG_NETWORK: &[(&str, F)] = &[
    ("TcbTablePartitions", U32),
    ("MaxHashTableSize", U32),
    ("MaxUserPort", U32),
    ("TcpTimedWaitDelay", U32),
];
const SYSCONFIG_IDE_CHANNEL: &[(&str, F)] = &[
    ("TargetId", U32),
    ("DeviceType", U32),
    ("DeviceTimingMode", U32),
    ("LocationInformationLen", U32),
    ("LocationInformation", Utf16Z),
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
        opcodes: &[1, 2, 3, 4],
        min_version: 0,
        max_version: 0,
        fields: PROCESS_V0,
    },
    Layout {
        class: &kernel::PROCESS,
        opcodes: &[1, 2, 3, 4],
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
        class: &kernel::PROCESS,
        opcodes: &[39],
        min_version: 5,
        max_version: 5,
        fields: PROCESS_V5_DEFUNCT,
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
        class: &kernel::FILE_IO,
        opcodes: &[64],
        min_version: 2,
        max_version: 2,
        fields: FILEIO_CREATE,
    },
    Layout {
        class: &kernel::FILE_IO,
        opcodes: &[65, 66, 73],
        min_version: 2,
        max_version: 2,
        fields: FILEIO_SIMPLE_OP,
    },
    Layout {
        class: &kernel::FILE_IO,
        opcodes: &[67, 68],
        min_version: 2,
        max_version: 2,
        fields: FILEIO_READ_WRITE,
    },
    Layout {
        class: &kernel::FILE_IO,
        opcodes: &[69, 70, 71, 74, 75],
        min_version: 2,
        max_version: 2,
        fields: FILEIO_INFO,
    },
    Layout {
        class: &kernel::FILE_IO,
        opcodes: &[72, 77],
        min_version: 2,
        max_version: 2,
        fields: FILEIO_DIR_ENUM,
    },
    Layout {
        class: &kernel::FILE_IO,
        opcodes: &[76],
        min_version: 2,
        max_version: 2,
        fields: FILEIO_OP_END,
    },
    Layout {
        class: &kernel::REGISTRY,
        opcodes: &[10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21],
        min_version: 0,
        max_version: 0,
        fields: REGISTRY_V0,
    },
    Layout {
        class: &kernel::REGISTRY,
        opcodes: &[10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22],
        min_version: 1,
        max_version: 1,
        fields: REGISTRY_V1,
    },
    Layout {
        class: &kernel::REGISTRY,
        opcodes: &[
            10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
        ],
        min_version: 2,
        max_version: 2,
        fields: REGISTRY_V2,
    },
    Layout {
        class: &kernel::SYSTEM_CONFIG,
        opcodes: &[11],
        min_version: 2,
        max_version: 2,
        fields: SYSCONFIG_PHYDISK,
    },
    Layout {
        class: &kernel::SYSTEM_CONFIG,
        opcodes: &[12],
        min_version: 2,
        max_version: 2,
        fields: SYSCONFIG_LOGDISK,
    },
    Layout {
        class: &kernel::SYSTEM_CONFIG,
        opcodes: &[13],
        min_version: 2,
        max_version: 2,
        fields: SYSCONFIG_NIC,
    },
    Layout {
        class: &kernel::SYSTEM_CONFIG,
        opcodes: &[16],
        min_version: 2,
        max_version: 2,
        fields: SYSCONFIG_POWER,
    },
    Layout {
        class: &kernel::SYSTEM_CONFIG,
        opcodes: &[17],
        min_version: 2,
        max_version: 2,
        fields: SYSCONFIG_NETWORK,
    },
    Layout {
        class: &kernel::SYSTEM_CONFIG,
        opcodes: &[23],
        min_version: 2,
        max_version: 2,
        fields: SYSCONFIG_IDE_CHANNEL,
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
        ("FileIo", 65) => "Cleanup",
        ("FileIo", 66) => "Close",
        ("FileIo", 67) => "Read",
        ("FileIo", 68) => "Write",
        ("FileIo", 69) => "SetInfo",
        ("FileIo", 70) => "Delete",
        ("FileIo", 71) => "Rename",
        ("FileIo", 72) => "DirEnum",
        ("FileIo", 73) => "Flush",
        ("FileIo", 74) => "QueryInfo",
        ("FileIo", 75) => "FSControl",
        ("FileIo", 76) => "OperationEnd",
        ("FileIo", 77) => "DirNotify",
        ("Registry", 10) => "Create",
        ("Registry", 11) => "Open",
        ("Registry", 12) => "Delete",
        ("Registry", 13) => "Query",
        ("Registry", 14) => "SetValue",
        ("Registry", 15) => "DeleteValue",
        ("Registry", 16) => "QueryValue",
        ("Registry", 17) => "EnumerateKey",
        ("Registry", 18) => "EnumerateValueKey",
        ("Registry", 19) => "QueryMultipleValue",
        ("Registry", 20) => "SetInformation",
        ("Registry", 21) => "Flush",
        // Version 1 called 22 "RunDown"; these are the current (version 2) names.
        ("Registry", 22) => "KCBCreate",
        ("Registry", 23) => "KCBDelete",
        ("Registry", 24) => "KCBRundownBegin",
        ("Registry", 25) => "KCBRundownEnd",
        ("Registry", 26) => "Virtualize",
        ("Registry", 27) => "Close",
        ("SystemConfig", 10) => "CPU",
        ("SystemConfig", 11) => "PhyDisk",
        ("SystemConfig", 12) => "LogDisk",
        ("SystemConfig", 13) => "NIC",
        ("SystemConfig", 14) => "Video",
        ("SystemConfig", 15) => "Services",
        ("SystemConfig", 16) => "Power",
        ("SystemConfig", 17) => "Network",
        ("SystemConfig", 21) => "IRQ",
        ("SystemConfig", 22) => "PnP",
        ("SystemConfig", 23) => "IDEChannel",
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

/// Layouts and `Class/Opcode` names by class and opcode, built once: decoding
/// or naming an event is then a lookup, not a scan and a `format!`.
struct Index {
    /// The layouts for (class, opcode), in table order; the first whose
    /// versions fit is used.
    layouts: FastMap<(Guid, u8), Vec<&'static Layout>>,
    names: FastMap<(Guid, u8), Box<str>>,
}

static INDEX: OnceLock<Index> = OnceLock::new();

fn index() -> &'static Index {
    INDEX.get_or_init(|| {
        let mut layouts: FastMap<_, Vec<_>> = FastMap::default();
        for l in LAYOUTS {
            for &op in l.opcodes {
                layouts.entry((l.class.guid, op)).or_default().push(l);
            }
        }
        let mut names = FastMap::default();
        for class in kernel::ALL_CLASSES {
            for op in 0..=u8::MAX {
                if let Some(name) = opcode_name(class, op) {
                    names.insert((class.guid, op), format!("{}/{name}", class.name).into());
                }
            }
        }
        Index { layouts, names }
    })
}

/// `Class/Opcode` for a kernel event, when both are known.
pub fn event_name(event: &EtwEvent) -> Option<&'static str> {
    let class = event.kernel_class?;
    index().names.get(&(class.guid, event.opcode)).map(|n| &**n)
}

fn layout(class: &KernelClass, opcode: u8, version: u16) -> Option<&'static Layout> {
    let candidates = index().layouts.get(&(class.guid, opcode))?;
    candidates
        .iter()
        .find(|l| (l.min_version..=l.max_version).contains(&version))
        .copied()
}

/// The properties a layout yields, in payload order, each with whether it is
/// pointer-sized: for checking the layouts against the class documentation.
/// `None` where no layout is known.
pub fn layout_properties(
    class: &KernelClass,
    opcode: u8,
    version: u16,
) -> Option<Vec<(&'static str, bool)>> {
    let fields = layout(class, opcode, version)?.fields;
    let named = fields.iter().filter(|(name, _)| !name.is_empty());
    Some(named.map(|&(name, kind)| (name, kind == Ptr)).collect())
}

/// Decodes a kernel event; `None` for events that are not kernel records.
pub fn decode(event: &EtwEvent, pointer_size: usize) -> Option<Decoded> {
    let class = event.kernel_class?;
    let name = event_name(event).map(Name::Static);
    let Some(layout) = layout(class, event.opcode, event.version) else {
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
) -> (Vec<(Name, Value)>, usize, bool) {
    let mut at = 0;
    let mut out = Vec::with_capacity(fields.len());
    for &(name, kind) in fields {
        match read(kind, data, at, p) {
            Some((value, next)) => {
                if let Some(v) = value {
                    out.push((Name::Static(name), v));
                }
                at = next;
            }
            None => return (out, at, false),
        }
    }
    (out, at, true)
}

/// Skips a MOF `UserSID` object: a zero pointer (4 bytes) for no token, else a
/// TOKEN_USER (two pointers' worth) followed by the SID itself.
fn skip_sid(payload: &[u8], at: usize, pointer_size: usize) -> Option<usize> {
    if crate::bytes::u32_at(payload, at)? == 0 {
        return Some(at + 4);
    }
    let token = 2 * pointer_size;
    let sub_authorities = crate::bytes::u8_at(payload, at + token + 1)? as usize;
    let end = at + token + 8 + 4 * sub_authorities;
    (end <= payload.len()).then_some(end)
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
pub(super) fn read(kind: F, data: &[u8], at: usize, p: usize) -> Option<(Option<Value>, usize)> {
    let fixed = |size: usize| uint(data, at, size).map(|v| (Some(Value::U64(v)), at + size));
    match kind {
        U8 => fixed(1),
        U16 => fixed(2),
        U32 => fixed(4),
        U64 => fixed(8),
        I64 => array_at::<8>(data, at).map(|a| (Some(Value::I64(i64::from_le_bytes(a))), at + 8)),
        Ptr => fixed(p),
        I16 => array_at::<2>(data, at)
            .map(|a| (Some(Value::I64(i16::from_le_bytes(a) as i64)), at + 2)),
        I32 => array_at::<4>(data, at)
            .map(|a| (Some(Value::I64(i32::from_le_bytes(a) as i64)), at + 4)),
        Sid => {
            let end = skip_sid(data, at, p)?;
            let sid = if end - at == 4 {
                Value::Null
            } else {
                data.get(at + 2 * p..end)
                    .and_then(crate::extended::sid_to_string)
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
            // A whole, aligned NUL: a string cut mid-unit can end in two zero bytes too.
            let terminated = next >= at + 2
                && (next - at).is_multiple_of(2)
                && data.get(next - 2..next) == Some(&[0, 0]);
            terminated.then_some((Some(Value::Str(s)), next))
        }
        OptUtf16Z if at >= data.len() => Some((None, at)),
        OptUtf16Z => read(Utf16Z, data, at, p),
        Utf16Fixed(units) => {
            let bytes = data.get(at..at.checked_add(units * 2)?)?;
            let (text_len, ascii) = utf16_scan(bytes);
            let text = utf16_known(&bytes[..text_len], ascii);
            Some((Some(Value::Str(text)), at + bytes.len()))
        }
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
    #[test]
    fn sid_is_skipped_by_its_sub_authority_count() {
        // TOKEN_USER (16 bytes on 64-bit), then S-1-5-18: revision, count 1, authority, 1 sub.
        let mut p = vec![1u8; 16];
        p.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
        p.extend_from_slice(b"x.exe\0");
        assert_eq!(skip_sid(&p, 0, 8), Some(28));
        assert_eq!(skip_sid(&[0, 0, 0, 0], 0, 8), Some(4));
        assert_eq!(skip_sid(&p[..20], 0, 8), None);
    }

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

    use crate::decode::testing::Payload;

    /// Decodes `payload` as `hook` (group << 8 | opcode) of `version` and checks
    /// every property, then that a payload cut short is partial.
    fn check(hook: u16, version: u16, name: &str, payload: Payload) {
        let p = payload.p;
        let event = crate::decode::testing::kernel_event(hook, version, p, payload.bytes.clone());
        let got = crate::decode::decode(&event).unwrap();
        assert_eq!(got.name.as_deref(), Some(name), "{hook:#06x}");
        assert_eq!(
            got.properties, payload.want,
            "{name} v{version} {p}-byte pointers"
        );
        assert!(got.complete, "{name} v{version} {p}-byte pointers");

        let mut cut = event.clone();
        let short = payload.bytes[..payload.bytes.len() - 1].to_vec();
        cut.user_data = crate::event::SharedBytes::from_vec(short);
        let partial = crate::decode::decode(&cut).unwrap();
        assert!(!partial.complete, "{name}: a cut payload is partial");
        assert!(payload.want.starts_with(&partial.properties));
    }

    const REGISTRY: u16 = 0x0900;
    const FILE_IO: u16 = 0x0400;

    #[test]
    fn registry_typegroup1_by_version_and_pointer_size() {
        let names = [
            "Create",
            "Open",
            "Delete",
            "Query",
            "SetValue",
            "DeleteValue",
            "QueryValue",
            "EnumerateKey",
            "EnumerateValueKey",
            "QueryMultipleValue",
            "SetInformation",
            "Flush",
            "KCBCreate",
            "KCBDelete",
            "KCBRundownBegin",
            "KCBRundownEnd",
            "Virtualize",
            "Close",
        ];
        for p in [4, 8] {
            for (opcode, op) in (10u16..).zip(names) {
                let name = format!("Registry/{op}");
                let v2 = Payload::new(p)
                    .i64("InitialTime", 0x0123_4567_89AB)
                    .u32("Status", 0xC000_0034)
                    .u32("Index", 3)
                    .ptr("KeyHandle", 0x8765_4320)
                    .utf16z("KeyName", "\\REGISTRY\\MACHINE\\SOFTWARE\\Ünïcode");
                check(REGISTRY | opcode, 2, &name, v2);
                if opcode <= 22 {
                    let v1 = Payload::new(p)
                        .ptr("Status", 0x34)
                        .ptr("KeyHandle", 0x8765_4320)
                        .i64("ElapsedTime", -5)
                        .u32("Index", 7)
                        .utf16z("KeyName", "\\REGISTRY\\USER");
                    check(REGISTRY | opcode, 1, &name, v1);
                }
                if opcode <= 21 {
                    let v0 = Payload::new(p)
                        .ptr("Status", 0)
                        .ptr("KeyHandle", 0x10)
                        .i64("ElapsedTime", 99)
                        .utf16z("KeyName", "");
                    check(REGISTRY | opcode, 0, &name, v0);
                }
            }
        }
        // Version 2 with the docs' pointer-sized Status would not account for the bytes.
        let v2 = Payload::new(8)
            .i64("InitialTime", 1)
            .u32("Status", 0)
            .u32("Index", 0)
            .ptr("KeyHandle", 1)
            .utf16z("KeyName", "k");
        assert_eq!(v2.bytes.len(), 8 + 4 + 4 + 8 + 4);
    }

    #[test]
    fn fileio_operations_by_pointer_size() {
        for p in [4, 8] {
            let create = Payload::new(p)
                .ptr("IrpPtr", 0x1000)
                .ptr("TTID", 0x1234)
                .ptr("FileObject", 0x2000)
                .u32("CreateOptions", 0x0100_0060)
                .u32("FileAttributes", 0x80)
                .u32("ShareAccess", 7)
                .utf16z("OpenPath", "\\Device\\HarddiskVolume2\\x.txt");
            check(FILE_IO | 64, 2, "FileIo/Create", create);

            for (opcode, op) in [(65, "Cleanup"), (66, "Close"), (73, "Flush")] {
                let simple = Payload::new(p)
                    .ptr("IrpPtr", 0x1000)
                    .ptr("TTID", 0x1234)
                    .ptr("FileObject", 0x2000)
                    .ptr("FileKey", 0x3000);
                check(FILE_IO | opcode, 2, &format!("FileIo/{op}"), simple);
            }
            for (opcode, op) in [(67, "Read"), (68, "Write")] {
                let rw = Payload::new(p)
                    .u64("Offset", 1 << 40)
                    .ptr("IrpPtr", 0x1000)
                    .ptr("TTID", 0x1234)
                    .ptr("FileObject", 0x2000)
                    .ptr("FileKey", 0x3000)
                    .u32("IoSize", 4096)
                    .u32("IoFlags", 0x60900);
                check(FILE_IO | opcode, 2, &format!("FileIo/{op}"), rw);
            }
            let infos = [
                (69, "SetInfo"),
                (70, "Delete"),
                (71, "Rename"),
                (74, "QueryInfo"),
                (75, "FSControl"),
            ];
            for (opcode, op) in infos {
                let info = Payload::new(p)
                    .ptr("IrpPtr", 0x1000)
                    .ptr("TTID", 0x1234)
                    .ptr("FileObject", 0x2000)
                    .ptr("FileKey", 0x3000)
                    .ptr("ExtraInfo", 0x4000)
                    .u32("InfoClass", 13);
                check(FILE_IO | opcode, 2, &format!("FileIo/{op}"), info);
            }
            for (opcode, op) in [(72, "DirEnum"), (77, "DirNotify")] {
                let dir = Payload::new(p)
                    .ptr("IrpPtr", 0x1000)
                    .ptr("TTID", 0x1234)
                    .ptr("FileObject", 0x2000)
                    .ptr("FileKey", 0x3000)
                    .u32("Length", 616)
                    .u32("InfoClass", 37)
                    .u32("FileIndex", 0)
                    .utf16z("FileName", "*.dll");
                check(FILE_IO | opcode, 2, &format!("FileIo/{op}"), dir);
            }
            let end = Payload::new(p)
                .ptr("IrpPtr", 0x1000)
                .ptr("ExtraInfo", 0x40)
                .u32("NtStatus", 0xC000_0022);
            check(FILE_IO | 76, 2, "FileIo/OperationEnd", end);
        }
    }

    const PROCESS: u16 = 0x0300;

    /// Process/Defunct's payload for `version`, laid out for `p`-byte pointers.
    fn defunct(version: u16, p: usize) -> Payload {
        let status = -0x3FFF_FEC6; // STATUS_CONTROL_C_EXIT
        let mut payload = Payload::new(p)
            .ptr("UniqueProcessKey", 0x8765_4080)
            .u32("ProcessId", 0x1F0)
            .u32("ParentId", 0x258)
            .u32("SessionId", 1)
            .field(
                "ExitStatus",
                &i32::to_le_bytes(status),
                Value::I64(status.into()),
            );
        if version >= 3 {
            payload = payload.ptr("DirectoryTableBase", 0x3C25_A000);
        }
        if version >= 4 {
            payload = payload.u32("Flags", 0x10);
        }
        // TOKEN_USER (the SID's address and attributes), then S-1-5-18.
        let mut sid = [0xAA; 8][..p].to_vec();
        sid.resize(2 * p, 0);
        sid.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
        payload = payload
            .field("UserSID", &sid, Value::Sid("S-1-5-18".into()))
            .utf8z("ImageFileName", "svchost.exe")
            .utf16z(
                "CommandLine",
                "C:\\Windows\\system32\\svchost.exe -k netsvcs",
            );
        if version >= 4 {
            payload = payload
                .utf16z(
                    "PackageFullName",
                    "Microsoft.MicrosoftEdge_44.18362.449.0_neutral__8wekyb3d8bbwe",
                )
                .utf16z("ApplicationId", "MicrosoftEdge");
        }
        if version >= 5 {
            let exit_time = 0x01D5_EE5A_BA25_FC67; // 2020-02-28 17:15:51 UTC
            payload = payload.field(
                "ExitTime",
                &i64::to_le_bytes(exit_time),
                Value::FileTime(exit_time),
            );
        }
        payload
    }

    #[test]
    fn process_defunct_by_version_and_pointer_size() {
        for p in [4, 8] {
            for version in 2..=5 {
                check(
                    PROCESS | 39,
                    version,
                    "Process/Defunct",
                    defunct(version, p),
                );
            }
            // Versions 0 and 1 have no Defunct, and version 5 is Defunct's alone:
            // named, never decoded with a guessed layout.
            for (opcode, version, name) in [
                (39, 0, "Process/Defunct"),
                (39, 1, "Process/Defunct"),
                (1, 5, "Process/Start"),
                (2, 5, "Process/End"),
            ] {
                let bytes = defunct(5, p).bytes;
                let event =
                    crate::decode::testing::kernel_event(PROCESS | opcode, version, p, bytes);
                let got = crate::decode::decode(&event).unwrap();
                assert_eq!(got.name.as_deref(), Some(name));
                assert!(
                    got.properties.is_empty() && !got.complete,
                    "{name} v{version}"
                );
            }
        }
    }

    #[test]
    fn fixed_utf16_arrays_stop_at_nul_and_need_every_unit() {
        let mut data: Vec<u8> = "C:".encode_utf16().flat_map(u16::to_le_bytes).collect();
        data.resize(8, 0);
        assert_eq!(
            read(Utf16Fixed(4), &data, 0, 8),
            Some((Some(Value::Str("C:".into())), 8))
        );
        assert_eq!(read(Utf16Fixed(5), &data, 0, 8), None);
        assert_eq!(read(Utf16Fixed(1), &data, usize::MAX, 8), None);
    }
}
