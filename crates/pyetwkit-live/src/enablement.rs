//! ETW's enablement rules: which events a session receives, given what it
//! enabled. Simulated sessions apply them to a recording; live sessions get
//! them from ETW itself, and the same description is what the Windows layer
//! turns into `EnableTraceEx2` calls and kernel flags.
//!
//! The level and keyword test is the one manifest-generated providers run
//! (`McGenLevelKeywordEnabled` in evntprov.h): an event is written when its
//! level is at most the session's level (a session level of 0 enables every
//! level), and its keywords are 0, or share a bit with MatchAnyKeyword and hold
//! every bit of MatchAllKeyword. A MatchAnyKeyword of 0 enables every keyword.

use pyetwkit_core::{EtwEvent, FastMap, Guid, ALWAYS_CLASSES, FLAG_CLASSES};

/// An `EVENT_FILTER_TYPE_EVENT_ID` filter: these ids only, or all but these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventIdFilter {
    pub ids: Vec<u16>,
    /// True: only these ids pass; false: these ids are dropped.
    pub filter_in: bool,
}

/// One user-mode provider as a session enables it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEnable {
    pub guid: Guid,
    /// The most verbose level wanted (1 critical … 5 verbose); 0 enables all.
    pub level: u8,
    pub match_any: u64,
    pub match_all: u64,
    pub event_ids: Option<EventIdFilter>,
    /// `EVENT_FILTER_TYPE_PID`: only events of these processes (empty: all).
    pub pids: Vec<u32>,
    /// `EVENT_ENABLE_PROPERTY_*` bits: extended data ETW adds to each event.
    pub properties: u32,
}

/// `EVENT_ENABLE_PROPERTY_SID`: the writer's SID as extended data.
pub const ENABLE_PROPERTY_SID: u32 = 0x1;
/// `EVENT_ENABLE_PROPERTY_TS_ID`: the terminal session id.
pub const ENABLE_PROPERTY_TS_ID: u32 = 0x2;
/// `EVENT_ENABLE_PROPERTY_STACK_TRACE`: the call stack.
pub const ENABLE_PROPERTY_STACK_TRACE: u32 = 0x4;

impl ProviderEnable {
    pub fn new(guid: Guid) -> ProviderEnable {
        ProviderEnable {
            guid,
            level: 5,
            match_any: 0,
            match_all: 0,
            event_ids: None,
            pids: Vec::new(),
            properties: 0,
        }
    }

    /// Whether the provider writes `event` into the session.
    pub fn selects(&self, event: &EtwEvent) -> bool {
        event.kernel_class.is_none()
            && event.provider_id == self.guid
            && level_and_keywords_pass(self.level, self.match_any, self.match_all, event)
            && self
                .event_ids
                .as_ref()
                .is_none_or(|f| f.ids.contains(&event.event_id) == f.filter_in)
            && (self.pids.is_empty() || event.pid.is_some_and(|p| self.pids.contains(&p)))
    }
}

/// `McGenLevelKeywordEnabled`, with ETW's reading of a MatchAnyKeyword of 0.
pub fn level_and_keywords_pass(level: u8, any: u64, all: u64, event: &EtwEvent) -> bool {
    let any = if any == 0 { u64::MAX } else { any };
    let k = event.keywords;
    (event.level <= level || level == 0) && (k == 0 || (k & any != 0 && k & all == all))
}

/// What a session enabled: user-mode providers and kernel flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enablement {
    pub providers: Vec<ProviderEnable>,
    /// EVENT_TRACE_FLAG_* bits of a kernel session.
    pub kernel_flags: u32,
}

impl Enablement {
    /// ETW's rules for this enablement, indexed once: `Selector::selects` says
    /// whether the session receives an event (what a simulated session applies).
    pub fn selector(&self) -> Selector {
        let mut by_guid: FastMap<Guid, Vec<ProviderEnable>> = FastMap::default();
        for p in &self.providers {
            by_guid.entry(p.guid).or_default().push(p.clone());
        }
        let mut kernel_classes: Vec<Guid> = FLAG_CLASSES
            .iter()
            .filter(|(flag, _)| self.kernel_flags & flag != 0)
            .map(|(_, c)| c.guid)
            .collect();
        if self.kernel_flags != 0 {
            kernel_classes.extend(ALWAYS_CLASSES.iter().map(|c| c.guid));
        }
        Selector {
            by_guid,
            kernel_classes,
        }
    }
}

/// ETW's enablement rules with the providers indexed by GUID and the kernel
/// classes resolved once.
pub struct Selector {
    by_guid: FastMap<Guid, Vec<ProviderEnable>>,
    kernel_classes: Vec<Guid>,
}

impl Selector {
    /// Whether the session receives `event`: a kernel event when a flag enables
    /// its class, any other when one of the providers writes it.
    #[inline]
    pub fn selects(&self, event: &EtwEvent) -> bool {
        match event.kernel_class {
            Some(class) => self.kernel_classes.contains(&class.guid),
            None => self
                .by_guid
                .get(&event.provider_id)
                .is_some_and(|ps| ps.iter().any(|p| p.selects(event))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyetwkit_core::{EventKind, SharedBytes};

    fn event(level: u8, keywords: u64, id: u16, pid: u32) -> EtwEvent {
        EtwEvent {
            kind: EventKind::Event,
            header_type: None,
            provider_id: Guid::from_fields(1, 2, 3, [4; 8]),
            hook_id: None,
            kernel_class: None,
            pointer_size: 8,
            event_id: id,
            version: 0,
            opcode: 0,
            level,
            task: 0,
            keywords,
            channel: 0,
            pid: Some(pid),
            tid: None,
            processor: None,
            filetime: 0,
            user_data: SharedBytes::default(),
            activity_id: None,
            extended: SharedBytes::default(),
            file_offset: None,
            process: None,
            schema: None,
            annotation: None,
        }
    }

    #[test]
    fn levels_follow_the_manifest_rule() {
        let e = |level| event(level, 0, 1, 4);
        assert!(level_and_keywords_pass(3, 0, 0, &e(3)));
        assert!(!level_and_keywords_pass(3, 0, 0, &e(4)));
        assert!(
            level_and_keywords_pass(1, 0, 0, &e(0)),
            "level-0 events always pass"
        );
        assert!(
            level_and_keywords_pass(0, 0, 0, &e(5)),
            "a session level of 0 enables all"
        );
    }

    #[test]
    fn keywords_any_and_all() {
        let k = |keywords| event(4, keywords, 1, 4);
        assert!(
            level_and_keywords_pass(5, 0x10, 0, &k(0)),
            "keyword-0 events always pass"
        );
        assert!(level_and_keywords_pass(5, 0x10, 0, &k(0x30)));
        assert!(!level_and_keywords_pass(5, 0x10, 0, &k(0x20)));
        assert!(
            level_and_keywords_pass(5, 0, 0, &k(0x20)),
            "any = 0 enables every keyword"
        );
        assert!(level_and_keywords_pass(5, 0x10, 0x30, &k(0x30)));
        assert!(
            !level_and_keywords_pass(5, 0x10, 0x30, &k(0x10)),
            "all needs every bit"
        );
    }

    #[test]
    fn providers_filter_by_guid_ids_and_pids() {
        let mut p = ProviderEnable::new(Guid::from_fields(1, 2, 3, [4; 8]));
        assert!(p.selects(&event(4, 0, 7, 100)));
        let mut other = event(4, 0, 7, 100);
        other.provider_id = Guid::from_fields(9, 9, 9, [9; 8]);
        assert!(!p.selects(&other));
        p.event_ids = Some(EventIdFilter {
            ids: vec![7],
            filter_in: true,
        });
        assert!(p.selects(&event(4, 0, 7, 100)) && !p.selects(&event(4, 0, 8, 100)));
        p.event_ids = Some(EventIdFilter {
            ids: vec![7],
            filter_in: false,
        });
        assert!(!p.selects(&event(4, 0, 7, 100)) && p.selects(&event(4, 0, 8, 100)));
        p.event_ids = None;
        p.pids = vec![100, 70_000];
        assert!(p.selects(&event(4, 0, 1, 70_000)), "32-bit pids");
        assert!(!p.selects(&event(4, 0, 1, 4)));
    }

    #[test]
    fn kernel_flags_select_their_classes() {
        let mut e = event(0, 0, 0, 4);
        e.kernel_class = pyetwkit_core::class_of_hook(0x0301); // Process/Start
        let process = Enablement {
            providers: Vec::new(),
            kernel_flags: 0x1,
        };
        assert!(process.selector().selects(&e));
        let threads = Enablement {
            providers: Vec::new(),
            kernel_flags: 0x2,
        };
        assert!(!threads.selector().selects(&e));
        // A provider enabled by the class GUID does not bring kernel events.
        let by_guid = Enablement {
            providers: vec![ProviderEnable::new(e.kernel_class.unwrap().guid)],
            kernel_flags: 0,
        };
        assert!(!by_guid.selector().selects(&e));
    }
}
