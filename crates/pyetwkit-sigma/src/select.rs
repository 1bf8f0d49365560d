//! Named selections, for automations: each selector picks events by Sigma
//! rules, by a core filter, or by both (then both must hold). An event no
//! selector wants stops here; one that goes on says which selectors chose it.
//! The owner may replace the selectors while a session runs: the gate takes
//! the new ones between two events, so no event is lost or seen by both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pyetwkit_core::stages::filter::Filter;
use pyetwkit_core::stages::Gate;
use pyetwkit_core::EtwEvent;

use crate::etw::EtwMapper;
use crate::eval::Scratch;
use crate::ruleset::RuleSet;
use crate::stage::{match_mapped, EventMatches};

/// One named way of choosing events.
pub struct Selector {
    pub name: String,
    pub rules: Option<Arc<RuleSet>>,
    pub filter: Option<Filter>,
}

/// The selectors in force, and their generation (1 for the first set, one
/// more at each replacement).
pub struct Selection {
    pub generation: u64,
    pub selectors: Vec<Selector>,
}

/// What an event chosen by the gate carries (`EtwEvent::annotation`).
pub struct Selected {
    /// The selection that chose it (names and rules by index).
    pub selection: Arc<Selection>,
    /// Per selector that chose it: its index, and its Sigma matches (none for
    /// a filter alone).
    pub chosen: Vec<(u32, Option<EventMatches>)>,
}

/// The selection shared by the gate (on the source's thread) and its owner.
pub struct SelectionSlot {
    current: Mutex<Arc<Selection>>,
    generation: AtomicU64,
    /// Selector evaluations so far: events seen times the selectors then in force.
    evaluated: AtomicU64,
    /// Events the gate has seen.
    events: AtomicU64,
}

impl SelectionSlot {
    pub fn new(selectors: Vec<Selector>) -> Arc<SelectionSlot> {
        Arc::new(SelectionSlot {
            current: Mutex::new(Arc::new(Selection {
                generation: 1,
                selectors,
            })),
            generation: AtomicU64::new(1),
            evaluated: AtomicU64::new(0),
            events: AtomicU64::new(0),
        })
    }

    /// Puts `selectors` in force from the next event on; their generation.
    pub fn replace(&self, selectors: Vec<Selector>) -> u64 {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = current.generation + 1;
        *current = Arc::new(Selection {
            generation,
            selectors,
        });
        self.generation.store(generation, Ordering::Release);
        generation
    }

    pub fn current(&self) -> Arc<Selection> {
        Arc::clone(&self.current.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// (events seen, selector evaluations) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.events.load(Ordering::Relaxed),
            self.evaluated.load(Ordering::Relaxed),
        )
    }
}

pub struct SelectorGate {
    slot: Arc<SelectionSlot>,
    selection: Arc<Selection>,
    /// One per selector: a rule set's scratch belongs to that rule set.
    scratches: Vec<Scratch>,
    mapper: EtwMapper,
}

impl SelectorGate {
    pub fn new(slot: Arc<SelectionSlot>) -> SelectorGate {
        let selection = slot.current();
        let mut gate = SelectorGate {
            slot,
            selection,
            scratches: Vec::new(),
            mapper: EtwMapper::default(),
        };
        gate.reset_scratches();
        gate
    }

    fn reset_scratches(&mut self) {
        self.scratches = self
            .selection
            .selectors
            .iter()
            .map(|_| Scratch::default())
            .collect();
    }

    /// Takes a replacement, if any, before an event: one atomic load per event.
    fn refresh(&mut self) {
        if self.slot.generation.load(Ordering::Acquire) != self.selection.generation {
            self.selection = self.slot.current();
            self.reset_scratches();
        }
    }
}

impl Gate for SelectorGate {
    fn admit(&mut self, event: &mut EtwEvent) -> bool {
        self.refresh();
        let selection = Arc::clone(&self.selection);
        let selectors = &selection.selectors;
        self.slot.events.fetch_add(1, Ordering::Relaxed);
        self.slot
            .evaluated
            .fetch_add(selectors.len() as u64, Ordering::Relaxed);
        // Mapped once, and for every event when Sigma is in use: the mapper
        // learns volumes and processes from events no rule selects.
        let mapped = match selectors.iter().any(|s| s.rules.is_some()) {
            true => self.mapper.map(event),
            false => None,
        };
        let mut chosen = Vec::new();
        for (index, selector) in selectors.iter().enumerate() {
            if selector.filter.as_ref().is_some_and(|f| !f.matches(event)) {
                continue;
            }
            let matches = match (&selector.rules, &mapped) {
                (None, _) => None,
                (Some(_), None) => continue,
                (Some(rules), Some(mapped)) => {
                    let found = match_mapped(rules, mapped, &mut self.scratches[index]);
                    if found.is_empty() {
                        continue;
                    }
                    Some(EventMatches {
                        rules: Arc::clone(rules),
                        matches: found,
                    })
                }
            };
            chosen.push((index as u32, matches));
        }
        if chosen.is_empty() {
            return false;
        }
        event.annotation = Some(Arc::new(Selected { selection, chosen }));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyetwkit_core::stages::StagedEvents;

    const DIAGHUB: &str = "etl-corpus/perfview_diaghub_diaghub.kernel.1.etl";

    fn recording() -> Option<std::path::PathBuf> {
        let base = std::env::var("PYETWKIT_TEST_DATA").unwrap_or_else(|_| "../../../shared".into());
        let path = std::path::Path::new(&base).join(DIAGHUB);
        path.exists().then_some(path)
    }

    fn filter(json: &str) -> Option<Filter> {
        Some(Filter::from_json(json).unwrap())
    }

    const PROCESS_START: &str = r#"{"op":"event_name","names":["process/start"]}"#;
    const IMAGE_LOAD: &str = r#"{"op":"event_name","names":["Image/Load"]}"#;
    const CMD_RULE: &str = "title: t\nlogsource: {category: process_creation, product: windows}\n\
        detection: {sel: {Image|endswith: '.exe'}, condition: sel}\n";

    /// Each event through the gate: which selectors chose it, in order.
    fn run(
        slot: &Arc<SelectionSlot>,
        swap_after: Option<(usize, Vec<Selector>)>,
    ) -> Vec<(u64, Vec<String>)> {
        let Some(path) = recording() else {
            return Vec::new();
        };
        let mut gate = SelectorGate::new(Arc::clone(slot));
        let mut swap = swap_after;
        let mut out = Vec::new();
        for (n, event) in StagedEvents::open(&path, &[]).unwrap().enumerate() {
            if swap.as_ref().is_some_and(|(at, _)| *at == n) {
                slot.replace(swap.take().unwrap().1);
            }
            let mut event = event.unwrap();
            if gate.admit(&mut event) {
                let selected = event.annotation.as_ref().unwrap();
                let selected = selected.downcast_ref::<Selected>().unwrap();
                let names = selected
                    .chosen
                    .iter()
                    .map(|(i, _)| selected.selection.selectors[*i as usize].name.clone())
                    .collect();
                out.push((selected.selection.generation, names));
            }
        }
        out
    }

    #[test]
    fn a_union_of_filters_and_sigma_and_their_intersection() {
        let rules = Arc::new(RuleSet::from_texts(
            &[("inline".to_string(), CMD_RULE.to_string())],
            &Default::default(),
        ));
        let slot = SelectionSlot::new(vec![
            Selector {
                name: "starts".into(),
                rules: None,
                filter: filter(PROCESS_START),
            },
            Selector {
                name: "loads".into(),
                rules: None,
                filter: filter(IMAGE_LOAD),
            },
            Selector {
                name: "sigma".into(),
                rules: Some(Arc::clone(&rules)),
                filter: None,
            },
            Selector {
                name: "both".into(),
                rules: Some(rules),
                filter: filter(r#"{"op":"process_glob","patterns":["git*"]}"#),
            },
        ]);
        let seen = run(&slot, None);
        if recording().is_none() {
            return;
        }
        let count = |name: &str| {
            seen.iter()
                .filter(|(_, n)| n.iter().any(|x| x == name))
                .count()
        };
        assert_eq!(count("starts"), 18);
        assert_eq!(count("loads"), 87);
        // The Sigma rule needs an Image path: 14 of the 18 starts have one.
        assert_eq!(count("sigma"), 14);
        assert!(count("both") < count("sigma"));
        // Every event the gate let through was chosen by someone.
        assert!(seen.iter().all(|(_, names)| !names.is_empty()));
        assert_eq!(seen.len(), 18 + 87);
        let (events, evaluated) = slot.counts();
        assert_eq!(evaluated, events * 4);
    }

    #[test]
    fn a_replacement_applies_from_the_next_event_on() {
        let first = || {
            vec![Selector {
                name: "starts".into(),
                rules: None,
                filter: filter(PROCESS_START),
            }]
        };
        let all = run(&SelectionSlot::new(first()), None);
        let slot = SelectionSlot::new(first());
        let replaced = vec![
            Selector {
                name: "starts".into(),
                rules: None,
                filter: filter(PROCESS_START),
            },
            Selector {
                name: "loads".into(),
                rules: None,
                filter: filter(IMAGE_LOAD),
            },
        ];
        let seen = run(&slot, Some((900, replaced)));
        if recording().is_none() {
            return;
        }
        // Every start is chosen exactly once, by one generation or the other.
        let starts = seen
            .iter()
            .filter(|(_, n)| n.contains(&"starts".to_string()))
            .count();
        assert_eq!(starts, all.len());
        let generations: Vec<u64> = seen.iter().map(|(g, _)| *g).collect();
        assert!(generations.windows(2).all(|w| w[0] <= w[1]));
        assert!(generations.contains(&1) && generations.contains(&2));
        assert!(seen
            .iter()
            .filter(|(_, n)| n.contains(&"loads".to_string()))
            .all(|(g, _)| *g == 2));
        assert_eq!(slot.counts().0, 16_335);
    }
}
