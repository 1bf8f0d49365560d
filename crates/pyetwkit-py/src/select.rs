//! `pyetwkit._core.Selection`: the named selectors of an automation, over
//! pyetwkit-sigma's `select`; replaceable while its session runs.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use pyetwkit_core::stages::filter::Filter;
use pyetwkit_core::stages::Stages;
use pyetwkit_core::EtwEvent;
use pyetwkit_sigma::select::{Selected, SelectionSlot, Selector, SelectorGate};

use crate::exceptions::to_py_err;
use crate::sigma::{matches_of, PyRuleSet};

/// One selector as Python gives it: (name, rules or None, filter JSON or None).
type SelectorArgs<'py> = (String, Option<PyRef<'py, PyRuleSet>>, Option<String>);

#[pyclass(module = "pyetwkit._core", name = "Selection", frozen)]
pub struct PySelection {
    pub slot: Arc<SelectionSlot>,
}

fn compile_selectors(args: Vec<SelectorArgs<'_>>) -> PyResult<Vec<Selector>> {
    args.into_iter()
        .map(|(name, rules, filter)| {
            if rules.is_none() && filter.is_none() {
                return Err(PyValueError::new_err(format!(
                    "selector {name:?} selects nothing: give rules, a filter or both"
                )));
            }
            let filter = filter
                .as_deref()
                .map(Filter::from_json)
                .transpose()
                .map_err(to_py_err)?;
            Ok(Selector {
                name,
                rules: rules.map(|r| Arc::clone(&r.inner)),
                filter,
            })
        })
        .collect()
}

#[pymethods]
impl PySelection {
    #[new]
    fn new(selectors: Vec<SelectorArgs<'_>>) -> PyResult<PySelection> {
        Ok(PySelection {
            slot: SelectionSlot::new(compile_selectors(selectors)?),
        })
    }

    /// Puts these selectors in force from the next event on; their generation.
    fn replace(&self, selectors: Vec<SelectorArgs<'_>>) -> PyResult<u64> {
        Ok(self.slot.replace(compile_selectors(selectors)?))
    }

    #[getter]
    fn generation(&self) -> u64 {
        self.slot.current().generation
    }

    /// The selectors' names in force, by index.
    #[getter]
    fn names(&self) -> Vec<String> {
        let current = self.slot.current();
        current.selectors.iter().map(|s| s.name.clone()).collect()
    }

    /// (events seen, selector evaluations) so far.
    fn counts(&self) -> (u64, u64) {
        self.slot.counts()
    }
}

/// `stages` ended with the Sigma stage of `rules` or the gate of `selection`.
pub fn with_gate(
    stages: Stages,
    rules: Option<&PyRuleSet>,
    keep_unmatched: bool,
    selection: Option<&PySelection>,
) -> PyResult<Stages> {
    match (rules, selection) {
        (Some(_), Some(_)) => Err(PyValueError::new_err("give rules or selection, not both")),
        (None, Some(s)) => Ok(stages.with_gate(Box::new(SelectorGate::new(Arc::clone(&s.slot))))),
        _ => Ok(crate::sigma::with_rules(stages, rules, keep_unmatched)),
    }
}

/// The event's selection, when a selection gate chose it: its generation, and
/// per selector that chose it, the name and its Sigma matches.
pub type EventSelection<'py> = (u64, Vec<(String, Vec<Bound<'py, PyAny>>)>);

pub fn event_selection<'py>(
    py: Python<'py>,
    event: &EtwEvent,
) -> PyResult<Option<EventSelection<'py>>> {
    let Some(selected) = event
        .annotation
        .as_ref()
        .and_then(|a| a.downcast_ref::<Selected>())
    else {
        return Ok(None);
    };
    let chosen = selected
        .chosen
        .iter()
        .map(|(index, matches)| {
            let name = selected.selection.selectors[*index as usize].name.clone();
            let found = match matches {
                Some(m) => matches_of(py, m)?,
                None => Vec::new(),
            };
            Ok((name, found))
        })
        .collect::<PyResult<_>>()?;
    Ok(Some((selected.selection.generation, chosen)))
}
