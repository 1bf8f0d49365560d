//! WMI_BUFFER_HEADER: the 0x48-byte header that starts every buffer of a file.

use crate::bytes::{u16_at, u32_at};

pub const BUFFER_HEADER_LEN: usize = 0x48;

pub const FLAG_EVENTS_LOST: u16 = 0x0002;
pub const FLAG_PROCESSOR_INDEX: u16 = 0x0020;
pub const FLAG_COMPRESSED: u16 = 0x0040;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferHeader {
    /// Bytes the buffer takes on disk.
    pub buffer_size: u32,
    /// Bytes in use, header included (after decompression for compressed buffers).
    pub offset: u32,
    pub flags: u16,
    pub buffer_type: u16,
    /// Processor of the buffer's records, when the logger recorded one.
    pub processor: Option<u16>,
}

impl BufferHeader {
    pub fn parse(h: &[u8; BUFFER_HEADER_LEN]) -> BufferHeader {
        let flags = u16_at(h, 0x34).unwrap_or(0);
        // ETW_BUFFER_CONTEXT: a u16 processor index when flagged, else a u8 number.
        let processor = if flags & FLAG_PROCESSOR_INDEX != 0 {
            u16_at(h, 0x28)
        } else {
            None
        };
        BufferHeader {
            buffer_size: u32_at(h, 0).unwrap_or(0),
            offset: u32_at(h, 0x30).unwrap_or(0),
            flags,
            buffer_type: u16_at(h, 0x36).unwrap_or(0),
            processor,
        }
    }

    pub fn is_compressed(&self) -> bool {
        self.flags & FLAG_COMPRESSED != 0
    }
}
