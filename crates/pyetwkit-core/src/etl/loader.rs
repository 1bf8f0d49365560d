//! Loading buffers from the file: reading, checking and decompressing them.
//! The reader calls a `BufferLoader` directly, or runs it on a `Prefetcher`
//! thread that works ahead, so decompression overlaps with the consumer.

use std::fs::File;
use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::buffer::{BufferHeader, BUFFER_HEADER_LEN, FLAG_EVENTS_LOST};
use super::xpress;
use crate::error::{EtlError, Result};

/// No real ETW buffer is larger (the maximum is 16 MiB); a larger claim is corruption,
/// and refusing it keeps memory bounded on hostile input.
pub const MAX_BUFFER_SIZE: u32 = 64 << 20;

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
}

pub(crate) struct BufferLoader {
    path: PathBuf,
    file: File,
    file_len: u64,
    next_at: u64,
    /// The largest decompressed buffer accepted: the logfile header's buffer size,
    /// once known.
    decompressed_limit: Option<usize>,
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
        if size as u64 > remaining {
            return Err(self.format_error(
                at,
                format!("buffer of {size} bytes but only {remaining} bytes left (truncated file)"),
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
            if data.len() < size as usize {
                data = vec![0; size as usize];
            } else {
                data.truncate(size as usize);
            }
            data[..BUFFER_HEADER_LEN].copy_from_slice(&raw_header);
            self.read_exact(
                at + BUFFER_HEADER_LEN as u64,
                &mut data[BUFFER_HEADER_LEN..],
            )?;
        }
        self.next_at = at + size as u64;
        Ok(Some(LoadedBuffer {
            raw_timestamp: crate::bytes::i64_at(&data, 0x10).unwrap_or(0),
            data,
            file_offset: at,
            next_at: self.next_at,
            used_end: used,
            processor: bh.processor,
            compressed: bh.is_compressed(),
            lost_events: bh.flags & FLAG_EVENTS_LOST != 0,
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

/// Buffers prepared ahead, in order, errors included.
const READ_AHEAD: usize = 2;

/// Runs a `BufferLoader` on its own thread. Dropping it ends and joins the thread.
pub(crate) struct Prefetcher {
    rx: Receiver<Result<Option<LoadedBuffer>>>,
    recycle: Sender<Vec<u8>>,
    thread: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Starts the thread. If it cannot start, gives the loader back (`None` only
    /// if the loader was lost, which a failed spawn cannot do).
    pub fn start_or_return(
        loader: BufferLoader,
    ) -> std::result::Result<Prefetcher, Option<BufferLoader>> {
        // The loader moves into the thread through this slot, so a failed spawn
        // leaves it here to take back.
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(loader)));
        Prefetcher::start(slot.clone()).map_err(|_| slot.lock().ok().and_then(|mut s| s.take()))
    }

    fn start(
        slot: std::sync::Arc<std::sync::Mutex<Option<BufferLoader>>>,
    ) -> io::Result<Prefetcher> {
        let (tx, rx) = crossbeam_channel::bounded(READ_AHEAD);
        let (recycle, recycled) = crossbeam_channel::bounded::<Vec<u8>>(READ_AHEAD + 2);
        let thread = std::thread::Builder::new()
            .name("pyetwkit-read-ahead".into())
            .spawn(move || {
                let Some(mut loader) = slot.lock().ok().and_then(|mut s| s.take()) else {
                    return;
                };
                let path = loader.path.clone();
                loop {
                    let data = recycled.try_recv().unwrap_or_default();
                    let loaded = catch_unwind(AssertUnwindSafe(|| loader.load(data)))
                        .unwrap_or_else(|_| {
                            // A bug must end the stream with an error, never silently.
                            Err(EtlError::Format {
                                path: path.clone(),
                                offset: loader.next_at,
                                reason: "internal error while reading this buffer".into(),
                            })
                        });
                    let last = !matches!(loaded, Ok(Some(_)));
                    if tx.send(loaded).is_err() || last {
                        return; // the reader is gone, or the file is done
                    }
                }
            })?;
        Ok(Prefetcher {
            rx,
            recycle,
            thread: Some(thread),
        })
    }

    /// The next buffer, waiting for it if need be; `Ok(None)` at the end.
    pub fn next(&mut self) -> Result<Option<LoadedBuffer>> {
        match self.rx.recv() {
            Ok(loaded) => loaded,
            Err(_) => Ok(None),
        }
    }

    /// Hands back an allocation for reuse (dropped if enough are waiting).
    pub fn recycle(&self, data: Vec<u8>) {
        let _ = self.recycle.try_send(data);
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Closing the channel makes a blocked send fail, so the thread ends.
        self.rx = crossbeam_channel::never();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
