//! What Python asks a live session for, as JSON: the providers (GUID, level,
//! keywords, event-id and pid filters) and the kernel flags. One parse, with
//! errors that name the field.

use serde::Deserialize;

use pyetwkit_core::{Error, Guid};

use crate::controller::{KernelSession, OnConflict, SessionSpec};
use crate::enablement::{
    Enablement, EventIdFilter, ProviderEnable, ENABLE_PROPERTY_SID, ENABLE_PROPERTY_STACK_TRACE,
    ENABLE_PROPERTY_TS_ID,
};
use crate::presets::{BufferSettings, Preset};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableSpec {
    #[serde(default)]
    providers: Vec<ProviderSpec>,
    #[serde(default)]
    kernel_flags: u32,
    /// The classic NT Kernel Logger instead of a private system logger.
    #[serde(default)]
    nt_kernel_logger: bool,
    /// Explicit buffer settings, each replacing the preset's.
    #[serde(default)]
    buffers: BufferSpec,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BufferSpec {
    buffer_kb: Option<u32>,
    min_buffers: Option<u32>,
    max_buffers: Option<u32>,
    flush_ms: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderSpec {
    /// Empty: resolve `name`.
    #[serde(default)]
    guid: String,
    #[serde(default)]
    name: String,
    #[serde(default = "verbose")]
    level: u8,
    #[serde(default)]
    keywords_any: u64,
    #[serde(default)]
    keywords_all: u64,
    #[serde(default)]
    event_ids: Option<Vec<u16>>,
    #[serde(default = "yes")]
    event_ids_in: bool,
    #[serde(default)]
    pids: Vec<u32>,
    #[serde(default)]
    stack_trace: bool,
    #[serde(default)]
    sid: bool,
    #[serde(default)]
    session_id: bool,
}

fn verbose() -> u8 {
    5
}

fn yes() -> bool {
    true
}

/// ETW accepts at most this many pids in an `EVENT_FILTER_TYPE_PID` filter.
pub const MAX_FILTER_PIDS: usize = 8;
/// And at most this many ids in an `EVENT_FILTER_TYPE_EVENT_ID` filter.
pub const MAX_FILTER_EVENT_IDS: usize = 64;

/// Parses what a session enables. A provider given by name alone gets its GUID
/// from `resolve` (TDH's provider list on Windows, the recording's providers
/// when simulated).
pub fn parse_enablement(
    json: &str,
    resolve: &mut dyn FnMut(&str) -> Result<Guid, Error>,
) -> Result<Enablement, Error> {
    Ok(parse(json, resolve)?.0)
}

/// What the bindings pass on for a live or simulated session.
#[derive(Debug, Clone, Copy)]
pub struct SessionRequest<'a> {
    /// Providers and kernel flags, as JSON (see `EnableSpec`).
    pub enable_json: &'a str,
    pub label: &'a str,
    pub on_conflict: &'a str,
    pub preset: &'a str,
}

impl SessionRequest<'_> {
    /// The session to start, names resolved with `resolve`.
    pub fn spec(
        &self,
        resolve: &mut dyn FnMut(&str) -> Result<Guid, Error>,
    ) -> Result<SessionSpec, Error> {
        let (enablement, nt_kernel_logger, b) = parse(self.enable_json, resolve)?;
        let kernel = match (enablement.kernel_flags, nt_kernel_logger) {
            (0, _) => KernelSession::None,
            (_, false) => KernelSession::SystemLogger,
            (_, true) => KernelSession::NtKernelLogger,
        };
        Ok(SessionSpec {
            label: self.label.to_string(),
            enablement,
            kernel,
            buffers: BufferSettings::resolve(
                Preset::parse(self.preset)?,
                b.buffer_kb,
                b.min_buffers,
                b.max_buffers,
                b.flush_ms,
            )?,
            on_conflict: OnConflict::parse(self.on_conflict)?,
        })
    }
}

fn parse(
    json: &str,
    resolve: &mut dyn FnMut(&str) -> Result<Guid, Error>,
) -> Result<(Enablement, bool, BufferSpec), Error> {
    let spec: EnableSpec = serde_json::from_str(json)
        .map_err(|e| Error::InvalidArgument(format!("invalid session spec: {e}")))?;
    let providers = spec
        .providers
        .into_iter()
        .map(|p| {
            let guid: Guid = match (p.guid.as_str(), p.name.as_str()) {
                ("", "") => {
                    return Err(Error::InvalidArgument(
                        "a provider needs a GUID or a name".into(),
                    ))
                }
                ("", name) => resolve(name)?,
                (guid, _) => guid.parse().map_err(|_| {
                    Error::InvalidArgument(format!("invalid provider GUID {guid:?}"))
                })?,
            };
            if p.pids.len() > MAX_FILTER_PIDS {
                return Err(Error::InvalidArgument(format!(
                    "ETW filters at most {MAX_FILTER_PIDS} pids per provider, not {}",
                    p.pids.len()
                )));
            }
            if p.event_ids
                .as_ref()
                .is_some_and(|ids| ids.len() > MAX_FILTER_EVENT_IDS)
            {
                return Err(Error::InvalidArgument(format!(
                    "ETW filters at most {MAX_FILTER_EVENT_IDS} event ids per provider"
                )));
            }
            Ok(ProviderEnable {
                guid,
                level: p.level,
                match_any: p.keywords_any,
                match_all: p.keywords_all,
                event_ids: p.event_ids.map(|ids| EventIdFilter {
                    ids,
                    filter_in: p.event_ids_in,
                }),
                pids: p.pids,
                properties: [
                    (p.sid, ENABLE_PROPERTY_SID),
                    (p.session_id, ENABLE_PROPERTY_TS_ID),
                    (p.stack_trace, ENABLE_PROPERTY_STACK_TRACE),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .fold(0, |bits, (_, bit)| bits | bit),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if providers.is_empty() && spec.kernel_flags == 0 {
        return Err(Error::InvalidArgument(
            "a session needs at least one provider or kernel flag".into(),
        ));
    }
    let enablement = Enablement {
        providers,
        kernel_flags: spec.kernel_flags,
    };
    Ok((enablement, spec.nt_kernel_logger, spec.buffers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_names(name: &str) -> Result<Guid, Error> {
        Err(Error::InvalidArgument(format!(
            "no provider named {name:?}"
        )))
    }

    #[test]
    fn names_resolve_and_extended_data_sets_enable_properties() {
        let dns: Guid = "1c95126e-7eea-49a9-a3fe-a378b03ddb4d".parse().unwrap();
        let e = parse_enablement(
            r#"{"providers":[{"name":"Microsoft-Windows-DNS-Client","stack_trace":true,"sid":true}]}"#,
            &mut |name| match name {
                "Microsoft-Windows-DNS-Client" => Ok(dns),
                other => no_names(other),
            },
        )
        .unwrap();
        assert_eq!(e.providers[0].guid, dns);
        assert_eq!(
            e.providers[0].properties,
            ENABLE_PROPERTY_STACK_TRACE | ENABLE_PROPERTY_SID
        );
        let unknown = parse_enablement(r#"{"providers":[{"name":"Nope"}]}"#, &mut no_names);
        assert!(matches!(unknown, Err(Error::InvalidArgument(m)) if m.contains("Nope")));
    }

    #[test]
    fn explicit_buffers_replace_the_presets_and_are_checked() {
        let request = |json| SessionRequest {
            enable_json: json,
            label: "x",
            on_conflict: "error",
            preset: "low_latency",
        };
        let spec = request(r#"{"kernel_flags":1,"buffers":{"buffer_kb":512}}"#)
            .spec(&mut no_names)
            .unwrap();
        assert_eq!((spec.buffers.buffer_kb, spec.buffers.flush_ms), (512, 20));
        assert_eq!(spec.kernel, KernelSession::SystemLogger);
        for bad in [
            r#"{"kernel_flags":1,"buffers":{"buffer_kb":4096}}"#,
            r#"{"kernel_flags":1,"buffers":{"size":1}}"#,
        ] {
            assert!(matches!(
                request(bad).spec(&mut no_names),
                Err(Error::InvalidArgument(_))
            ));
        }
        let nt = request(r#"{"kernel_flags":1,"nt_kernel_logger":true}"#);
        assert_eq!(
            nt.spec(&mut no_names).unwrap().kernel,
            KernelSession::NtKernelLogger
        );
    }

    #[test]
    fn specs_parse_with_defaults_and_refuse_bad_input() {
        let e = parse_enablement(
            r#"{"providers":[{"guid":"22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716","pids":[70000]}],"kernel_flags":1}"#,
            &mut no_names,
        )
        .unwrap();
        assert_eq!(e.providers[0].properties, 0);
        assert_eq!(e.kernel_flags, 1);
        assert_eq!((e.providers[0].level, e.providers[0].match_any), (5, 0));
        assert_eq!(e.providers[0].pids, [70_000]);
        for bad in [
            r#"{}"#,
            r#"{"providers":[{"guid":"nope"}]}"#,
            r#"{"providers":[{"level":4}]}"#,
            r#"{"providers":[{"guid":"22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716","level":300}]}"#,
            r#"{"providers":[{"guid":"22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716","pids":[1,2,3,4,5,6,7,8,9]}]}"#,
            r#"{"providers":[],"kernel_flags":1,"extra":true}"#,
        ] {
            assert!(
                matches!(
                    parse_enablement(bad, &mut no_names),
                    Err(Error::InvalidArgument(_))
                ),
                "{bad}"
            );
        }
    }
}
