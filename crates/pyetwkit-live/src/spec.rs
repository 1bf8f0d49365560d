//! What Python asks a live session for, as JSON: the providers (GUID, level,
//! keywords, event-id and pid filters) and the kernel flags. One parse, with
//! errors that name the field.

use serde::Deserialize;

use pyetwkit_core::{Error, Guid};

use crate::enablement::{Enablement, EventIdFilter, ProviderEnable};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableSpec {
    #[serde(default)]
    providers: Vec<ProviderSpec>,
    #[serde(default)]
    kernel_flags: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderSpec {
    guid: String,
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

/// Parses what a session enables.
pub fn parse_enablement(json: &str) -> Result<Enablement, Error> {
    let spec: EnableSpec = serde_json::from_str(json)
        .map_err(|e| Error::InvalidArgument(format!("invalid session spec: {e}")))?;
    let providers = spec
        .providers
        .into_iter()
        .map(|p| {
            let guid: Guid = p.guid.parse().map_err(|_| {
                Error::InvalidArgument(format!("invalid provider GUID {:?}", p.guid))
            })?;
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
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if providers.is_empty() && spec.kernel_flags == 0 {
        return Err(Error::InvalidArgument(
            "a session needs at least one provider or kernel flag".into(),
        ));
    }
    Ok(Enablement {
        providers,
        kernel_flags: spec.kernel_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_defaults_and_refuse_bad_input() {
        let e = parse_enablement(
            r#"{"providers":[{"guid":"22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716","pids":[70000]}],"kernel_flags":1}"#,
        )
        .unwrap();
        assert_eq!(e.kernel_flags, 1);
        assert_eq!((e.providers[0].level, e.providers[0].match_any), (5, 0));
        assert_eq!(e.providers[0].pids, [70_000]);
        for bad in [
            r#"{}"#,
            r#"{"providers":[{"guid":"nope"}]}"#,
            r#"{"providers":[{"guid":"22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716","level":300}]}"#,
            r#"{"providers":[{"guid":"22fb2cd6-0e7b-422b-a0c7-2fad1fd0e716","pids":[1,2,3,4,5,6,7,8,9]}]}"#,
            r#"{"providers":[],"kernel_flags":1,"extra":true}"#,
        ] {
            assert!(
                matches!(parse_enablement(bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
    }
}
