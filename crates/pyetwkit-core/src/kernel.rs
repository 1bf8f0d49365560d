//! NT Kernel Logger records carry a hook id (group << 8 | opcode) instead of a
//! provider GUID. A live session reports them under the MOF event class GUID;
//! this table maps hooks to the same class so files and live sessions agree.

use crate::guid::Guid;

/// A kernel MOF event class, as Microsoft documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelClass {
    pub name: &'static str,
    pub guid: Guid,
}

const fn class(name: &'static str, d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> KernelClass {
    KernelClass {
        name,
        guid: Guid::from_fields(d1, d2, d3, d4),
    }
}

const SYSTEM_TRACE: [u8; 8] = [0x9d, 0xda, 0x00, 0xc0, 0x4f, 0xd7, 0xba, 0x7c];
const EVENT_TRACE: [u8; 8] = [0x84, 0xf4, 0x00, 0x00, 0xf8, 0x04, 0x64, 0xe3];

pub static EVENT_TRACE_CLASS: KernelClass =
    class("EventTrace", 0x68fdd900, 0x4a3e, 0x11d1, EVENT_TRACE);
pub static DISK_IO: KernelClass = class("DiskIo", 0x3d6fa8d4, 0xfe05, 0x11d0, SYSTEM_TRACE);
pub static PAGE_FAULT: KernelClass = class("PageFault", 0x3d6fa8d3, 0xfe05, 0x11d0, SYSTEM_TRACE);
pub static PROCESS: KernelClass = class("Process", 0x3d6fa8d0, 0xfe05, 0x11d0, SYSTEM_TRACE);
pub static FILE_IO: KernelClass = class("FileIo", 0x90cbdc39, 0x4a3e, 0x11d1, EVENT_TRACE);
pub static THREAD: KernelClass = class("Thread", 0x3d6fa8d1, 0xfe05, 0x11d0, SYSTEM_TRACE);
pub static TCP_IP: KernelClass = class(
    "TcpIp",
    0x9a280ac0,
    0xc8e0,
    0x11d1,
    [0x84, 0xe2, 0x00, 0xc0, 0x4f, 0xb9, 0x98, 0xa2],
);
pub static UDP_IP: KernelClass = class(
    "UdpIp",
    0xbf3a50c5,
    0xa9c9,
    0x4988,
    [0xa0, 0x05, 0x2d, 0xf0, 0xb7, 0xc8, 0x0f, 0x80],
);
pub static REGISTRY: KernelClass = class(
    "Registry",
    0xae53722e,
    0xc863,
    0x11d2,
    [0x86, 0x59, 0x00, 0xc0, 0x4f, 0xa3, 0x21, 0xa1],
);
pub static SYSTEM_CONFIG: KernelClass = class(
    "SystemConfig",
    0x01853a65,
    0x418f,
    0x4f36,
    [0xae, 0xfc, 0xdc, 0x0f, 0x1d, 0x2f, 0xd2, 0x35],
);
pub static PERF_INFO: KernelClass = class(
    "PerfInfo",
    0xce1dbfb4,
    0x137e,
    0x4da6,
    [0x87, 0xb0, 0x3f, 0x59, 0xaa, 0x10, 0x2c, 0xbc],
);
pub static HEAP: KernelClass = class(
    "Heap",
    0x222962ab,
    0x6180,
    0x4b88,
    [0xa8, 0x25, 0x34, 0x6b, 0x75, 0xf2, 0xa2, 0x4b],
);
pub static OBJECT: KernelClass = class(
    "ObTrace",
    0x89497f50,
    0xeffe,
    0x4440,
    [0x8c, 0xf2, 0xce, 0x6b, 0x1c, 0xdc, 0xac, 0xa7],
);
pub static POWER: KernelClass = class(
    "Power",
    0xe43445e0,
    0x0903,
    0x48c3,
    [0xb8, 0x78, 0xff, 0x0f, 0xcc, 0xeb, 0xdd, 0x04],
);
pub static IMAGE: KernelClass = class(
    "Image",
    0x2cb15d1d,
    0x5fc1,
    0x11d2,
    [0xab, 0xe1, 0x00, 0xa0, 0xc9, 0x11, 0xf5, 0x18],
);
pub static CRIT_SEC: KernelClass = class(
    "CritSec",
    0x3ac66736,
    0xcc59,
    0x4cff,
    [0x81, 0x15, 0x8d, 0xf5, 0x0e, 0x39, 0x81, 0x6b],
);
pub static STACK_WALK: KernelClass = class(
    "StackWalk",
    0xdef2fe46,
    0x7bd6,
    0x4b80,
    [0xbd, 0x94, 0xf5, 0x7f, 0xe2, 0x0d, 0x0c, 0xe3],
);
pub static UMS: KernelClass = class(
    "UMS",
    0x9aec974b,
    0x5b8e,
    0x4118,
    [0x9b, 0x92, 0x31, 0x86, 0xd8, 0x00, 0x2c, 0xe5],
);
pub static ALPC: KernelClass = class(
    "ALPC",
    0x45d8cccd,
    0x539f,
    0x4b72,
    [0xa8, 0xb7, 0x5c, 0x68, 0x31, 0x42, 0x60, 0x9a],
);
pub static SPLIT_IO: KernelClass = class(
    "SplitIo",
    0xd837ca92,
    0x12b9,
    0x44a5,
    [0xad, 0x6a, 0x3a, 0x65, 0xb3, 0x57, 0x8a, 0xa8],
);
pub static THREAD_POOL: KernelClass = class(
    "ThreadPool",
    0xc861d0e2,
    0xa2c1,
    0x4d36,
    [0x9f, 0x9c, 0x97, 0x0b, 0xab, 0x94, 0x3a, 0x12],
);

/// Every class this table can produce, for listings and tests.
pub const ALL_CLASSES: &[KernelClass] = &[
    EVENT_TRACE_CLASS,
    DISK_IO,
    PAGE_FAULT,
    PROCESS,
    FILE_IO,
    THREAD,
    TCP_IP,
    UDP_IP,
    REGISTRY,
    SYSTEM_CONFIG,
    PERF_INFO,
    HEAP,
    OBJECT,
    POWER,
    IMAGE,
    CRIT_SEC,
    STACK_WALK,
    UMS,
    ALPC,
    SPLIT_IO,
    THREAD_POOL,
];

/// The hook of an image load: logged in the process group, reported as Image/Load.
const HOOK_IMAGE_LOAD_IN_PROCESS_GROUP: u16 = 0x030A;

/// The kernel class a live session reports under this event class GUID.
pub fn class_of_guid(guid: Guid) -> Option<&'static KernelClass> {
    ALL_CLASSES.iter().find(|c| c.guid == guid)
}

/// The NT Kernel Logger's EVENT_TRACE_FLAG_* bits behind the provider
/// factories, and the class whose events each enables: the one table that
/// Python's `providers.kernel_logger` and simulated sessions derive from.
pub static FLAG_CLASSES: &[(u32, &KernelClass)] = &[
    (0x0000_0001, &PROCESS),    // PROCESS
    (0x0000_0002, &THREAD),     // THREAD
    (0x0000_0004, &IMAGE),      // IMAGE_LOAD
    (0x0000_0100, &DISK_IO),    // DISK_IO
    (0x0000_0200, &FILE_IO),    // DISK_FILE_IO (FileIo Name events)
    (0x0200_0000, &FILE_IO),    // FILE_IO
    (0x0400_0000, &FILE_IO),    // FILE_IO_INIT
    (0x0002_0000, &REGISTRY),   // REGISTRY
    (0x0001_0000, &TCP_IP),     // NETWORK_TCPIP
    (0x0001_0000, &UDP_IP),     // NETWORK_TCPIP
    (0x0000_1000, &PAGE_FAULT), // MEMORY_PAGE_FAULTS
    (0x0000_2000, &PAGE_FAULT), // MEMORY_HARD_FAULTS
    (0x0100_0000, &PERF_INFO),  // PROFILE (SampledProfile)
];

/// Classes every kernel session receives whatever its flags: the session's
/// own header and rundown events (EventTrace).
pub static ALWAYS_CLASSES: &[&KernelClass] = &[&EVENT_TRACE_CLASS];

/// The event class of a kernel hook id, or `None` for groups with no documented class.
/// The opcode is the hook's low byte in every case, the image-load hook included.
pub fn class_of_hook(hook_id: u16) -> Option<&'static KernelClass> {
    if hook_id == HOOK_IMAGE_LOAD_IN_PROCESS_GROUP {
        return Some(&IMAGE);
    }
    // Group numbers are the EVENT_TRACE_GROUP_* values of the Windows headers.
    Some(match hook_id >> 8 {
        0x00 => &EVENT_TRACE_CLASS,
        0x01 => &DISK_IO,
        0x02 => &PAGE_FAULT,
        0x03 => &PROCESS,
        0x04 => &FILE_IO,
        0x05 => &THREAD,
        0x06 => &TCP_IP,
        0x08 => &UDP_IP,
        0x09 => &REGISTRY,
        0x0B => &SYSTEM_CONFIG,
        0x0F => &PERF_INFO,
        0x10 => &HEAP,
        0x11 => &OBJECT,
        0x12 => &POWER,
        0x14 => &IMAGE,
        0x17 => &CRIT_SEC,
        0x18 => &STACK_WALK,
        0x19 => &UMS,
        0x1A => &ALPC,
        0x1B => &SPLIT_IO,
        0x1C => &THREAD_POOL,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_load_is_reported_as_image_class() {
        assert_eq!(class_of_hook(0x030A), Some(&IMAGE));
        assert_eq!(class_of_hook(0x0301), Some(&PROCESS));
        assert_eq!(class_of_hook(0x1402), Some(&IMAGE));
        assert_eq!(class_of_hook(0x0F2E), Some(&PERF_INFO));
        assert_eq!(class_of_hook(0x0700), None);
        assert_eq!(
            PROCESS.guid.to_string(),
            "3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c"
        );
    }
}
