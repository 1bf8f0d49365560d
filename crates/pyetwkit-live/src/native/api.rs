//! `EtwApi` on Windows. Starting and enabling go through ferrisetw's trace
//! builder (StartTraceW, EnableTraceEx2 per provider, OpenTraceW); filters it
//! cannot express (32-bit pids, excluded event ids) are set by a second
//! EnableTraceEx2 of ours before the first event is consumed. Query, stop,
//! the session list and the orphan check call Win32 directly.
#![allow(unsafe_code)] // Win32 calls, each with its buffers owned here

use std::sync::Arc;

use ferrisetw::native::{EvntraceNativeError, TraceHandle};
use ferrisetw::provider::kernel_providers::KernelProvider;
use ferrisetw::provider::{Provider, TraceFlags};
use ferrisetw::trace::{KernelTrace, TraceBuilder, TraceError, UserTrace};
use ferrisetw::{EventRecord, SchemaLocator};
use windows::core::{HSTRING, PCWSTR};
use windows::Win32::Foundation::{CloseHandle, ERROR_ACCESS_DENIED, STILL_ACTIVE};
use windows::Win32::System::Diagnostics::Etw::{
    ControlTraceW, EnableTraceEx2, QueryAllTracesW, CONTROLTRACE_HANDLE, ENABLE_TRACE_PARAMETERS,
    ENABLE_TRACE_PARAMETERS_VERSION_2, EVENT_CONTROL_CODE_ENABLE_PROVIDER, EVENT_TRACE_CONTROL,
    EVENT_TRACE_CONTROL_QUERY, EVENT_TRACE_CONTROL_STOP, EVENT_TRACE_PROPERTIES,
};
use windows::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

use pyetwkit_core::{Guid, ALL_CLASSES};

use super::filters::Filters;
use super::properties::{trace_properties, PropertiesBuffer};
use super::record::guid_to_win;
use crate::controller::{EtwApi, Failure, KernelSession, LossCounters, SessionSpec};
use crate::enablement::ProviderEnable;
use crate::win32::Win32Op;

/// RT_LostEvent: ETW's notice that a real-time session lost events or
/// buffers. ferrisetw delivers only events whose GUID it enabled, so the
/// session enables this GUID too (no provider registers it: enabling it is a
/// no-op for ETW, and it lets the notices through to us).
pub const RT_LOST_EVENT: Guid = Guid::from_fields(
    0x6a399ae0,
    0x4bc6,
    0x4de9,
    [0x87, 0x0b, 0x36, 0x57, 0xf8, 0x94, 0x7e, 0x7e],
);

/// The callback every event goes to, whatever its GUID.
pub type Callback = Arc<dyn Fn(&EventRecord) + Send + Sync>;

/// A started session: the ferrisetw trace (dropping it closes and stops) and
/// the handle ProcessTrace runs on.
pub enum Trace {
    User(UserTrace),
    Kernel(KernelTrace),
}

pub struct Started {
    pub trace: Trace,
    pub handle: TraceHandle,
}

/// ETW through ferrisetw and Win32; `callback` receives every event.
pub struct NativeEtw {
    pub callback: Option<Callback>,
}

const ERROR_ALREADY_EXISTS: u32 = 183;
const ERROR_MORE_DATA: u32 = 234;
/// The most sessions a system runs (QueryAllTraces' array).
const MAX_SESSIONS: usize = 64;

/// A ferrisetw Provider whose events go to `callback`.
fn dispatching(builder: ferrisetw::provider::ProviderBuilder, callback: &Callback) -> Provider {
    let callback = callback.clone();
    builder
        .add_callback(move |record: &EventRecord, _: &SchemaLocator| callback(record))
        .build()
}

/// The user-mode providers as ferrisetw enables them: GUID, level, keywords,
/// extended data and included event ids. Then RT_LostEvent, for its notices.
fn user_providers(spec: &SessionSpec, callback: &Callback) -> Vec<Provider> {
    let mut out: Vec<Provider> = spec
        .enablement
        .providers
        .iter()
        .map(|p| {
            let mut b = Provider::by_guid(guid_to_win(p.guid))
                .level(p.level)
                .any(p.match_any)
                .all(p.match_all)
                .trace_flags(TraceFlags::from_bits_truncate(p.properties));
            if let Some(f) = p.event_ids.as_ref().filter(|f| f.filter_in) {
                b = b.add_filter(ferrisetw::provider::EventFilter::ByEventIds(f.ids.clone()));
            }
            dispatching(b, callback)
        })
        .collect();
    out.push(dispatching(
        Provider::by_guid(guid_to_win(RT_LOST_EVENT)),
        callback,
    ));
    out
}

/// A kernel session's providers: one per MOF class GUID the kernel reports
/// events under (ferrisetw dispatches by GUID), the flags on the first, and
/// RT_LostEvent.
fn kernel_providers(spec: &SessionSpec, callback: &Callback) -> Vec<Provider> {
    let mut out = Vec::new();
    let mut flags = spec.enablement.kernel_flags;
    let mut seen = Vec::new();
    for class in ALL_CLASSES {
        if seen.contains(&class.guid) {
            continue;
        }
        seen.push(class.guid);
        let kernel = KernelProvider::new(guid_to_win(class.guid), std::mem::take(&mut flags));
        out.push(dispatching(Provider::kernel(&kernel), callback));
    }
    out.push(dispatching(
        Provider::by_guid(guid_to_win(RT_LOST_EVENT)),
        callback,
    ));
    out
}

fn build<T>(mut builder: TraceBuilder<T>, providers: Vec<Provider>) -> TraceBuilder<T>
where
    T: ferrisetw::trace::RealTimeTraceTrait,
{
    for p in providers {
        builder = builder.enable(p);
    }
    builder
}

/// The Win32 code in one of ferrisetw's I/O errors, which carry an HRESULT.
pub(super) fn win32_code(e: &std::io::Error) -> u32 {
    let raw = e.raw_os_error().unwrap_or(0) as u32;
    match raw & 0xFFFF_0000 {
        0x8007_0000 => raw & 0xFFFF, // HRESULT_FROM_WIN32
        _ => raw,
    }
}

/// A Win32 code from ferrisetw's error when starting a session.
fn code_of(error: &TraceError) -> u32 {
    match error {
        TraceError::EtwNativeError(EvntraceNativeError::AlreadyExist) => ERROR_ALREADY_EXISTS,
        TraceError::EtwNativeError(EvntraceNativeError::IoError(e)) => win32_code(e),
        // An invalid handle or name: the arguments were wrong.
        _ => 87,
    }
}

impl NativeEtw {
    fn control(&self, name: &str, code: EVENT_TRACE_CONTROL) -> Result<Box<PropertiesBuffer>, u32> {
        let mut buffer = PropertiesBuffer::new();
        let wide = HSTRING::from(name);
        // SAFETY: the buffer is a valid EVENT_TRACE_PROPERTIES with room for the
        // names at the offsets it declares; the name is NUL-terminated.
        let status = unsafe {
            ControlTraceW(
                CONTROLTRACE_HANDLE::default(),
                PCWSTR(wide.as_ptr()),
                &mut buffer.properties,
                code,
            )
        };
        match status.0 {
            0 | ERROR_MORE_DATA => Ok(buffer),
            code => Err(code),
        }
    }

    /// EnableTraceEx2 of ours, for filters ferrisetw cannot set.
    fn enable_filters(&self, name: &str, provider: &ProviderEnable) -> Result<(), u32> {
        let handle = self.control(name, EVENT_TRACE_CONTROL_QUERY)?.handle();
        let mut filters = Filters::of(provider);
        let descriptors = filters.descriptors();
        let parameters = ENABLE_TRACE_PARAMETERS {
            Version: ENABLE_TRACE_PARAMETERS_VERSION_2,
            EnableProperty: provider.properties,
            ControlFlags: 0,
            SourceId: Default::default(),
            EnableFilterDesc: descriptors.as_mut_ptr(),
            FilterDescCount: descriptors.len() as u32,
        };
        let guid = guid_to_win(provider.guid);
        // SAFETY: the parameters and the filter blobs they point to live
        // until the call returns.
        let status = unsafe {
            EnableTraceEx2(
                handle,
                &guid,
                EVENT_CONTROL_CODE_ENABLE_PROVIDER.0,
                provider.level,
                provider.match_any,
                provider.match_all,
                0,
                Some(&parameters),
            )
        };
        match status.0 {
            0 => Ok(()),
            code => Err(code),
        }
    }
}

impl EtwApi for NativeEtw {
    type Started = Started;

    fn start(&mut self, name: &str, spec: &SessionSpec) -> Result<Started, Failure> {
        let callback = self.callback.clone().ok_or(Failure {
            op: Win32Op::StartTrace,
            code: 87,
        })?;
        let properties = trace_properties(&spec.buffers);
        let started = match spec.kernel {
            KernelSession::None => build(
                UserTrace::new()
                    .named(name.to_string())
                    .set_trace_properties(properties),
                user_providers(spec, &callback),
            )
            .start()
            .map(|(t, handle)| Started {
                trace: Trace::User(t),
                handle,
            }),
            KernelSession::SystemLogger | KernelSession::NtKernelLogger => build(
                KernelTrace::new()
                    .named(name.to_string())
                    .set_trace_properties(properties),
                kernel_providers(spec, &callback),
            )
            .start()
            .map(|(t, handle)| Started {
                trace: Trace::Kernel(t),
                handle,
            }),
        };
        let started = started.map_err(|e| {
            let code = code_of(&e);
            // ferrisetw reports StartTrace, EnableTraceEx2 and OpenTrace
            // failures alike: a session that exists now failed after starting.
            let op = match code != ERROR_ALREADY_EXISTS && self.query(name).is_ok() {
                true => Win32Op::EnableProvider,
                false => Win32Op::StartTrace,
            };
            Failure { op, code }
        })?;
        if spec.kernel == KernelSession::None {
            for provider in &spec.enablement.providers {
                if Filters::need_our_enable(provider) {
                    self.enable_filters(name, provider)
                        .map_err(|code| Failure {
                            op: Win32Op::EnableProvider,
                            code,
                        })?;
                }
            }
        }
        Ok(started)
    }

    fn query(&mut self, name: &str) -> Result<LossCounters, u32> {
        Ok(self.control(name, EVENT_TRACE_CONTROL_QUERY)?.counters())
    }

    fn stop(&mut self, name: &str) -> Result<LossCounters, u32> {
        Ok(self.control(name, EVENT_TRACE_CONTROL_STOP)?.counters())
    }

    fn sessions(&mut self) -> Result<Vec<String>, u32> {
        let mut buffers: Vec<Box<PropertiesBuffer>> =
            (0..MAX_SESSIONS).map(|_| PropertiesBuffer::new()).collect();
        let mut pointers: Vec<*mut EVENT_TRACE_PROPERTIES> = buffers
            .iter_mut()
            .map(|b| &mut b.properties as *mut EVENT_TRACE_PROPERTIES)
            .collect();
        let mut count = 0u32;
        // SAFETY: every pointer is a valid properties buffer with room for names.
        let status = unsafe { QueryAllTracesW(&mut pointers, &mut count) };
        match status.0 {
            0 | ERROR_MORE_DATA => Ok(buffers
                .iter()
                .take(count as usize)
                .map(|b| b.logger_name())
                .collect()),
            code => Err(code),
        }
    }

    fn process_alive(&mut self, pid: u32) -> bool {
        // SAFETY: plain Win32 calls on a handle we own and close.
        unsafe {
            match OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, false, pid) {
                Ok(handle) => {
                    let mut code = 0u32;
                    let alive = GetExitCodeProcess(handle, &mut code).is_ok()
                        && code == STILL_ACTIVE.0 as u32;
                    let _ = CloseHandle(handle);
                    alive
                }
                // A process we may not open still exists.
                Err(e) => e.code() == ERROR_ACCESS_DENIED.to_hresult(),
            }
        }
    }
}
