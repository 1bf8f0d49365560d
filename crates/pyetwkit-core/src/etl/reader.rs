//! The streaming .etl reader: one buffer in memory at a time, records framed
//! in place, events sharing their buffer's bytes.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::buffer::BUFFER_HEADER_LEN;
use super::clock::Clock;
pub use super::loader::MAX_BUFFER_SIZE;
use super::loader::{BufferLoader, LoadedBuffer};
use super::logfile::LogfileHeader;
use super::record::{self, parse_record, Frame, RawRecord};
use crate::error::{EtlError, Result};
use crate::event::{EtwEvent, SharedBytes};
/// Retired buffers kept for reuse: events from the previous buffer are often
/// still alive when the next one loads.
const BUFFER_POOL: usize = 3;

/// Counters of what the reader has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub buffers: u64,
    pub compressed_buffers: u64,
    pub records: u64,
    /// Buffers whose header says the logger lost events while filling them.
    pub buffers_with_lost_events: u64,
}

/// Where buffers come from: the file, or memory after `preload`.
/// (Reading ahead on a second thread was measured: no faster on 2 cores, as the
/// consumer and the decoder already keep both busy.)
enum Input {
    Direct(BufferLoader),
    /// Buffers read (and decompressed) beforehand, with the fault that ended the
    /// preload, to raise once they are used up.
    Preloaded {
        buffers: std::collections::VecDeque<(CurrentBuffer, u64)>,
        fault: Option<EtlError>,
    },
}

struct CurrentBuffer {
    data: Arc<Vec<u8>>,
    file_offset: u64,
    used_end: usize,
    processor: Option<u16>,
    compressed: bool,
    /// The buffer's own timestamp, used for WPP records that carry none.
    raw_timestamp: i64,
    next_record: usize,
    /// The file ends inside this buffer: its last records are cut.
    cut: bool,
}

impl CurrentBuffer {
    /// No buffer: nothing to read until one is loaded.
    fn empty() -> CurrentBuffer {
        CurrentBuffer {
            data: Arc::new(Vec::new()),
            file_offset: 0,
            used_end: 0,
            processor: None,
            compressed: false,
            raw_timestamp: 0,
            next_record: BUFFER_HEADER_LEN,
            cut: false,
        }
    }
}

impl From<LoadedBuffer> for CurrentBuffer {
    fn from(b: LoadedBuffer) -> Self {
        CurrentBuffer {
            data: Arc::new(b.data),
            file_offset: b.file_offset,
            used_end: b.used_end,
            processor: b.processor,
            compressed: b.compressed,
            raw_timestamp: b.raw_timestamp,
            next_record: BUFFER_HEADER_LEN,
            cut: b.cut,
        }
    }
}

enum State {
    Reading,
    Finished,
}

/// EISDIR, with its errno where the OS has one (Python's IsADirectoryError).
fn is_a_directory() -> io::Error {
    #[cfg(unix)]
    {
        io::Error::from_raw_os_error(21)
    }
    #[cfg(not(unix))]
    {
        io::Error::new(io::ErrorKind::IsADirectory, "is a directory")
    }
}

fn is_block_device(kind: &std::fs::FileType) -> bool {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileTypeExt::is_block_device(kind)
    }
    #[cfg(not(unix))]
    {
        let _ = kind;
        false
    }
}

pub struct EtlReader {
    path: PathBuf,
    input: Input,
    file_len: u64,
    next_buffer_at: u64,
    header: LogfileHeader,
    clock: Clock,
    current: CurrentBuffer,
    pool: Vec<Arc<Vec<u8>>>,
    state: State,
    stats: ReadStats,
}

impl EtlReader {
    /// Opens `path` and reads its logfile header. A file that does not start
    /// like an .etl file fails here, before any event is read.
    pub fn open(path: impl AsRef<Path>) -> Result<EtlReader> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source: io::Error| EtlError::Io {
            path: path.clone(),
            source,
        };
        // Checked before opening: opening a FIFO with no writer blocks forever.
        let kind = std::fs::metadata(&path).map_err(io_err)?.file_type();
        if kind.is_dir() {
            return Err(io_err(is_a_directory()));
        }
        if !kind.is_file() && !is_block_device(&kind) {
            return Err(EtlError::NotEtl {
                path: path.clone(),
                reason: "not a regular file or block device (a FIFO, socket or device): \
                         .etl files are read from files"
                    .into(),
            });
        }
        let file = File::open(&path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        let mut reader = EtlReader {
            path: path.clone(),
            input: Input::Direct(BufferLoader::new(path.clone(), file, meta.len())),
            file_len: meta.len(),
            next_buffer_at: 0,
            header: placeholder_header(),
            clock: Clock::from_header(&placeholder_header()),
            current: CurrentBuffer::empty(),
            pool: Vec::new(),
            state: State::Reading,
            stats: ReadStats::default(),
        };
        let not_etl = |reason: String| EtlError::NotEtl {
            path: path.clone(),
            reason,
        };
        if reader.file_len < BUFFER_HEADER_LEN as u64 {
            return Err(not_etl(format!(
                "{} bytes is too short for an ETW buffer header",
                reader.file_len
            )));
        }
        match reader.load_next_buffer() {
            Ok(true) => {}
            Ok(false) => return Err(not_etl("no buffer".into())),
            Err(EtlError::Format { reason, .. }) => return Err(not_etl(reason)),
            Err(e) => return Err(e),
        }
        reader.header = reader.read_logfile_header().map_err(not_etl)?;
        reader.clock = Clock::from_header(&reader.header);
        if let Input::Direct(loader) = &mut reader.input {
            loader.set_buffer_size(reader.header.buffer_size);
        }
        Ok(reader)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &LogfileHeader {
        &self.header
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Bytes of the file consumed so far (whole buffers), for progress reporting.
    pub fn bytes_read(&self) -> u64 {
        self.next_buffer_at
    }

    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn read_logfile_header(&self) -> std::result::Result<LogfileHeader, String> {
        let data = &self.current.data;
        let first = match parse_record(data, BUFFER_HEADER_LEN, self.current.used_end) {
            Ok(Frame::Record(r)) => r,
            Ok(Frame::EndOfBuffer) => return Err("the first buffer holds no record".into()),
            Err(e) => return Err(format!("first record: {}", e.0)),
        };
        let pointer_size = match (first.header_type, first.hook_id) {
            (record::SYSTEM32, Some(0)) => 4,
            (record::SYSTEM64, Some(0)) => 8,
            _ => {
                return Err(format!(
                    "the first record is not a logfile header (header type {:#04x}, hook {:?})",
                    first.header_type, first.hook_id
                ))
            }
        };
        LogfileHeader::parse(
            &data[first.user_data.clone()],
            pointer_size,
            first.raw_timestamp,
        )
        .ok_or_else(|| "the logfile header record is cut short".to_string())
    }

    fn state_error(&self, offset: u64, reason: String) -> EtlError {
        EtlError::Format {
            path: self.path.clone(),
            offset,
            reason,
        }
    }

    /// Reads the next buffer into memory. `Ok(false)` at a clean end of file.
    pub fn load_next_buffer(&mut self) -> Result<bool> {
        if !matches!(self.state, State::Reading) {
            return Ok(false);
        }
        let result = self.load_next_buffer_inner();
        if !matches!(result, Ok(true)) {
            self.state = State::Finished;
        }
        result
    }

    fn load_next_buffer_inner(&mut self) -> Result<bool> {
        if let Input::Preloaded { buffers, fault } = &mut self.input {
            return match buffers.pop_front() {
                Some((buffer, next_at)) => {
                    self.current = buffer;
                    self.next_buffer_at = next_at;
                    Ok(true)
                }
                None => fault.take().map_or(Ok(false), Err),
            };
        }
        let free = self.retire_current();
        let loaded = match &mut self.input {
            Input::Direct(loader) => loader.load(free)?,
            Input::Preloaded { .. } => None,
        };
        let Some(b) = loaded else {
            return Ok(false);
        };
        self.stats.buffers += 1;
        self.stats.compressed_buffers += u64::from(b.compressed);
        self.stats.buffers_with_lost_events += u64::from(b.lost_events);
        self.next_buffer_at = b.next_at;
        self.current = CurrentBuffer::from(b);
        Ok(true)
    }

    /// Retires the current buffer and returns an allocation no event holds any
    /// more (or an empty one): buffers are reused without being zeroed.
    fn retire_current(&mut self) -> Vec<u8> {
        let retired = std::mem::replace(&mut self.current.data, Arc::new(Vec::new()));
        self.pool.push(retired);
        let free = self.pool.iter().position(|b| Arc::strong_count(b) == 1);
        let buffer = free
            .map(|i| self.pool.swap_remove(i))
            .and_then(|b| Arc::try_unwrap(b).ok())
            .unwrap_or_default();
        if self.pool.len() > BUFFER_POOL {
            // Still held by events: let them keep it alone.
            self.pool.remove(0);
        }
        buffer
    }

    /// Reads (and decompresses) every remaining buffer into memory now: reading
    /// events afterwards does no I/O, as with a live source. A fault found here
    /// is raised after the events before it, as usual. Memory grows with the file.
    pub fn preload(&mut self) {
        if matches!(self.input, Input::Preloaded { .. }) || !matches!(self.state, State::Reading) {
            return;
        }
        let mut buffers = std::collections::VecDeque::new();
        // The buffer being read stays first, where reading is.
        buffers.push_back((
            std::mem::replace(&mut self.current, CurrentBuffer::empty()),
            self.next_buffer_at,
        ));
        let fault = loop {
            match self.load_next_buffer_inner() {
                Ok(true) => buffers.push_back((
                    std::mem::replace(&mut self.current, CurrentBuffer::empty()),
                    self.next_buffer_at,
                )),
                Ok(false) => break None,
                Err(e) => break Some(e),
            }
        };
        self.pool.clear();
        self.input = Input::Preloaded { buffers, fault };
        let _ = self.load_next_buffer_inner();
    }

    /// The next record of the current buffer, without any I/O; `Ok(None)` when
    /// the buffer is used up (call `load_next_buffer`).
    #[inline]
    pub fn next_record_in_buffer(&mut self) -> Result<Option<RawRecord>> {
        if !matches!(self.state, State::Reading) {
            return Ok(None);
        }
        let cur = &self.current;
        if cur.next_record >= cur.used_end {
            return self.buffer_done();
        }
        match parse_record(&cur.data, cur.next_record, cur.used_end) {
            Ok(Frame::Record(rec)) => {
                self.current.next_record = rec.next_offset();
                self.stats.records += 1;
                Ok(Some(rec))
            }
            Ok(Frame::EndOfBuffer) => {
                if !self.current.cut {
                    self.current.next_record = self.current.used_end;
                }
                self.buffer_done()
            }
            Err(e) => {
                let (offset, mut reason) = self.locate(cur.next_record, e.0);
                if cur.cut {
                    reason.push_str(": the file ends inside this record (truncated file)");
                }
                self.state = State::Finished;
                Err(self.state_error(offset, reason))
            }
        }
    }

    /// The current buffer has no more records: `Ok(None)`, or, when the file
    /// ends inside it, the truncation (every whole record came before).
    fn buffer_done(&mut self) -> Result<Option<RawRecord>> {
        let cur = &self.current;
        if !cur.cut {
            return Ok(None);
        }
        self.state = State::Finished;
        // Where the first record not delivered starts: the cut one.
        let offset = cur.file_offset + cur.next_record.min(cur.used_end) as u64;
        Err(self.state_error(
            offset,
            "the file ends inside a buffer (truncated file); every whole record before was read"
                .into(),
        ))
    }

    /// File offset and message for a fault at `pos` of the current buffer.
    fn locate(&self, pos: usize, reason: String) -> (u64, String) {
        let cur = &self.current;
        if cur.compressed {
            (
                cur.file_offset,
                format!("{reason} (record at +{pos:#x} of the decompressed buffer)"),
            )
        } else {
            (cur.file_offset + pos as u64, reason)
        }
    }

    /// The next record, reading buffers as needed; `Ok(None)` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<RawRecord>> {
        loop {
            if let Some(rec) = self.next_record_in_buffer()? {
                return Ok(Some(rec));
            }
            if !self.load_next_buffer()? {
                return Ok(None);
            }
        }
    }

    /// Builds the event for a record of the current buffer: the raw event, with
    /// no schema or process context (the stages add those).
    #[inline]
    pub fn event_from(&self, rec: &RawRecord) -> EtwEvent {
        let cur = &self.current;
        let raw_ts = if rec.has_timestamp {
            rec.raw_timestamp
        } else {
            cur.raw_timestamp
        };
        EtwEvent {
            kind: rec.kind,
            header_type: Some(rec.header_type),
            provider_id: rec.provider_id,
            hook_id: rec.hook_id,
            kernel_class: rec.kernel_class,
            pointer_size: record::pointer_size(rec.header_type),
            event_id: rec.descriptor.id,
            version: rec.descriptor.version,
            opcode: rec.descriptor.opcode,
            level: rec.descriptor.level,
            task: rec.descriptor.task,
            keywords: rec.descriptor.keywords,
            channel: rec.descriptor.channel,
            pid: rec.pid,
            tid: rec.tid,
            processor: cur.processor,
            filetime: self.clock.to_filetime(raw_ts),
            user_data: SharedBytes::new(cur.data.clone(), rec.user_data.clone()),
            activity_id: rec.activity_id,
            extended: if rec.extended.is_empty() {
                SharedBytes::default()
            } else {
                SharedBytes::new(cur.data.clone(), rec.extended.clone())
            },
            file_offset: Some(if cur.compressed {
                cur.file_offset
            } else {
                cur.file_offset + rec.offset as u64
            }),
            process: None,
            schema: None,
            annotation: None,
        }
    }

    /// The next event of the current buffer without I/O; `Ok(None)` when it is used up.
    #[inline]
    pub fn next_event_in_buffer(&mut self) -> Result<Option<EtwEvent>> {
        Ok(self.next_record_in_buffer()?.map(|r| self.event_from(&r)))
    }

    /// The next event of the current buffer that `keep` accepts, without I/O;
    /// `keep` may change the event in place (the stages do). Built where it is
    /// returned: no extra copy of the event per call. `Ok(None)` when the
    /// buffer is used up.
    #[inline]
    pub fn next_event_in_buffer_where(
        &mut self,
        mut keep: impl FnMut(&mut EtwEvent) -> bool,
    ) -> Result<Option<EtwEvent>> {
        while let Some(rec) = self.next_record_in_buffer()? {
            let mut event = self.event_from(&rec);
            if keep(&mut event) {
                return Ok(Some(event));
            }
        }
        Ok(None)
    }

    pub fn next_event(&mut self) -> Result<Option<EtwEvent>> {
        Ok(self.next_record()?.map(|r| self.event_from(&r)))
    }

    /// Counts records by header type name without building events.
    pub fn count_records(mut self) -> Result<RecordCounts> {
        let mut counts = RecordCounts::default();
        while let Some(rec) = self.next_record()? {
            counts.add(&rec);
        }
        counts.buffers = self.stats.buffers;
        Ok(counts)
    }
}

impl Iterator for EtlReader {
    type Item = Result<EtwEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

/// Record counts of a file, by header type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordCounts {
    pub buffers: u64,
    pub records: u64,
    by_type: Vec<(&'static str, u64)>,
}

impl RecordCounts {
    pub fn add(&mut self, rec: &RawRecord) {
        self.records += 1;
        let name = record::header_type_name(rec.header_type, rec.kind);
        match self.by_type.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => self.by_type.push((name, 1)),
        }
    }

    /// (header type name, count), sorted by name.
    pub fn by_header_type(&self) -> Vec<(&'static str, u64)> {
        let mut v = self.by_type.clone();
        v.sort();
        v
    }
}

fn placeholder_header() -> LogfileHeader {
    LogfileHeader {
        buffer_size: 0,
        os_major: 0,
        os_minor: 0,
        os_build: 0,
        cpu_count: 0,
        end_time: 0,
        timer_resolution: 0,
        max_file_size_mb: 0,
        log_file_mode: 0,
        buffers_written: 0,
        pointer_size: 0,
        events_lost: 0,
        cpu_speed_mhz: 0,
        boot_time: 0,
        perf_freq: 0,
        start_time: 0,
        clock_type: super::logfile::ClockType::SystemTime,
        reserved_flags: 0,
        buffers_lost: 0,
        logger_name: String::new(),
        log_file_name: String::new(),
        header_timestamp: 0,
    }
}
