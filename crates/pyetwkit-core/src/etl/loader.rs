//! Loading buffers from the file: reading, checking and decompressing them,
//! apart from framing their records (the reader's job).

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use super::buffer::{BufferHeader, BUFFER_HEADER_LEN, FLAG_EVENTS_LOST};
use super::xpress;
use crate::error::{EtlError, Result};

/// ETW's largest buffer (EVENT_TRACE_PROPERTIES.BufferSize is at most 16,384 KB,
/// 1,024 KB before Windows 8): a larger claim is corruption, and refusing it
/// keeps memory bounded on hostile input.
pub const MAX_BUFFER_SIZE: u32 = 16 << 20;

/// Compressed buffers may expand, in all, to this many times the file's size
/// (or `DECOMPRESSION_FREE` bytes for small files). Relogged traces compress
/// about 3–20×; a crafted buffer of 87 bytes claims 16 MiB, and a few
/// hundred of them would cost minutes of CPU streamed and gigabytes preloaded.
pub const MAX_EXPANSION: u64 = 256;
pub const DECOMPRESSION_FREE: u64 = 256 << 20;

/// One buffer, read and (if need be) decompressed.
pub(crate) struct LoadedBuffer {
    pub data: Vec<u8>,
    pub file_offset: u64,
    /// Where the next buffer starts in the file.
    pub next_at: u64,
    pub used_end: usize,
    pub processor: Option<u16>,
    pub compressed: bool,
    pub lost_events: bool,
    pub raw_timestamp: i64,
    /// The file ends inside this (uncompressed) buffer: its records up to the
    /// cut are here, and reading must fail where they end.
    pub cut: bool,
}

pub(crate) struct BufferLoader {
    path: PathBuf,
    file: File,
    file_len: u64,
    next_at: u64,
    /// The largest decompressed buffer accepted: the logfile header's buffer size,
    /// once known.
    decompressed_limit: Option<usize>,
    /// Bytes compressed buffers may still expand to (`MAX_EXPANSION`).
    decompression_budget: u64,
    scratch: Vec<u8>,
}

impl BufferLoader {
    pub fn new(path: PathBuf, file: File, file_len: u64) -> BufferLoader {
        BufferLoader {
            path,
            file,
            file_len,
            next_at: 0,
            decompressed_limit: None,
            decompression_budget: file_len
                .saturating_mul(MAX_EXPANSION)
                .max(DECOMPRESSION_FREE),
            scratch: Vec::new(),
        }
    }

    pub fn set_buffer_size(&mut self, buffer_size: u32) {
        self.decompressed_limit =
            Some(buffer_size.clamp(BUFFER_HEADER_LEN as u32, MAX_BUFFER_SIZE) as usize);
    }

    fn format_error(&self, offset: u64, reason: impl Into<String>) -> EtlError {
        EtlError::Format {
            path: self.path.clone(),
            offset,
            reason: reason.into(),
        }
    }

    /// Reads the next buffer into `data` (a reused allocation: its old bytes are
    /// overwritten, never trusted). `Ok(None)` at a clean end of file.
    pub fn load(&mut self, mut data: Vec<u8>) -> Result<Option<LoadedBuffer>> {
        let at = self.next_at;
        let remaining = self.file_len.saturating_sub(at);
        if remaining == 0 {
            return Ok(None);
        }
        if remaining < BUFFER_HEADER_LEN as u64 {
            return Err(self.format_error(
                at,
                format!("file ends {remaining} bytes into a buffer header (truncated file)"),
            ));
        }
        let mut raw_header = [0u8; BUFFER_HEADER_LEN];
        self.read_exact(at, &mut raw_header)?;
        let bh = BufferHeader::parse(&raw_header);
        let size = bh.buffer_size;
        if (size as usize) < BUFFER_HEADER_LEN || size > MAX_BUFFER_SIZE {
            return Err(self.format_error(at, format!("implausible buffer size {size}")));
        }
        let cut = size as u64 > remaining;
        if cut && bh.is_compressed() {
            return Err(self.format_error(
                at,
                format!(
                    "compressed buffer of {size} bytes but only {remaining} bytes left \
                     (truncated file)"
                ),
            ));
        }
        let used = bh.offset as usize;
        let disk_payload = size as usize - BUFFER_HEADER_LEN;
        if bh.is_compressed() {
            // Before the logfile header is known, the first buffer bounds itself.
            let limit = self.decompressed_limit.unwrap_or(size as usize);
            if used < BUFFER_HEADER_LEN || used > limit {
                return Err(self.format_error(
                    at,
                    format!("compressed buffer claims {used} bytes in use, outside 72..={limit}"),
                ));
            }
            match self.decompression_budget.checked_sub(used as u64) {
                Some(left) => self.decompression_budget = left,
                None => {
                    return Err(self.format_error(
                        at,
                        format!(
                            "compressed buffers expand to more than {MAX_EXPANSION} times the \
                             file's size: refused as a decompression bomb"
                        ),
                    ))
                }
            }
            if data.len() < BUFFER_HEADER_LEN {
                data.resize(BUFFER_HEADER_LEN, 0);
            }
            data[..BUFFER_HEADER_LEN].copy_from_slice(&raw_header);
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.resize(disk_payload, 0);
            let read = self.read_exact(at + BUFFER_HEADER_LEN as u64, &mut scratch);
            // Decompress straight after the header: no second copy.
            let decoded = read.and_then(|_| {
                xpress::decompress_at(
                    &scratch,
                    &mut data,
                    BUFFER_HEADER_LEN,
                    used - BUFFER_HEADER_LEN,
                )
                .map_err(|e| self.format_error(at, format!("compressed buffer: {e}")))
            });
            self.scratch = scratch;
            decoded?;
            if data.len() != used {
                return Err(self.format_error(
                    at,
                    format!(
                        "compressed buffer decodes to {} bytes, its header says {}",
                        data.len() - BUFFER_HEADER_LEN,
                        used - BUFFER_HEADER_LEN
                    ),
                ));
            }
        } else {
            if used < BUFFER_HEADER_LEN || used > size as usize {
                return Err(self.format_error(
                    at,
                    format!("buffer claims {used} bytes in use, outside 72..={size}"),
                ));
            }
            // A cut buffer keeps what the file holds of it.
            let have = (size as u64).min(remaining) as usize;
            if data.len() < have {
                data = vec![0; have];
            } else {
                data.truncate(have);
            }
            data[..BUFFER_HEADER_LEN].copy_from_slice(&raw_header);
            self.read_exact(
                at + BUFFER_HEADER_LEN as u64,
                &mut data[BUFFER_HEADER_LEN..],
            )?;
        }
        self.next_at = (at + size as u64).min(self.file_len);
        let used = used.min(data.len());
        Ok(Some(LoadedBuffer {
            raw_timestamp: crate::bytes::i64_at(&data, 0x10).unwrap_or(0),
            data,
            file_offset: at,
            next_at: self.next_at,
            used_end: used,
            processor: bh.processor,
            compressed: bh.is_compressed(),
            lost_events: bh.flags & FLAG_EVENTS_LOST != 0,
            cut,
        }))
    }

    fn read_exact(&mut self, at: u64, into: &mut [u8]) -> Result<()> {
        self.file.read_exact(into).map_err(|source| {
            if source.kind() == io::ErrorKind::UnexpectedEof {
                self.format_error(at, "file ends inside a buffer (truncated file)")
            } else {
                EtlError::Io {
                    path: self.path.clone(),
                    source,
                }
            }
        })
    }
}
