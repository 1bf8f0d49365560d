//! `pyetwkit._core.SigmaRuleSet` and `SigmaStream`: bindings over
//! pyetwkit-sigma. A Python dict is read in place: its strings are borrowed,
//! never copied.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use pyetwkit_core::stages::Stages;
use pyetwkit_core::EtwEvent;
use pyetwkit_sigma::etw::EtwMapper;
use pyetwkit_sigma::fields::FlatEvent;
use pyetwkit_sigma::select::Selected;
use pyetwkit_sigma::stage::{match_mapped, EventMatches, SigmaGate};
use pyetwkit_sigma::timing::time_matching;
use pyetwkit_sigma::{
    FieldValue, Hit, LoadOptions, LogSource, RuleInfo, RuleSet, Scratch, Stream, StreamOptions,
};

use crate::event::PyEtwEvent;

#[pyclass(module = "pyetwkit._core", name = "SigmaRuleSet", frozen)]
pub struct PyRuleSet {
    pub inner: Arc<RuleSet>,
    scratch: Mutex<Scratch>,
    /// `match_event`'s mapper: it learns the trace's volumes and processes
    /// from the events passed to it, in order.
    mapper: Mutex<EtwMapper>,
}

/// `stages` ended with the Sigma stage of `rules`, when given.
pub fn with_rules(stages: Stages, rules: Option<&PyRuleSet>, keep_unmatched: bool) -> Stages {
    with_rule_set(stages, rules.map(|r| Arc::clone(&r.inner)), keep_unmatched)
}

/// [`with_rules`] for a rule set already taken out of its Python object.
pub fn with_rule_set(stages: Stages, rules: Option<Arc<RuleSet>>, keep_unmatched: bool) -> Stages {
    match rules {
        Some(rules) => stages.with_gate(Box::new(SigmaGate::new(rules, keep_unmatched))),
        None => stages,
    }
}

/// An event's attached matches as `pyetwkit.sigma.Match` objects.
pub fn event_matches<'py>(py: Python<'py>, event: &EtwEvent) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let Some(annotation) = event.annotation.as_ref() else {
        return Ok(Vec::new());
    };
    if let Some(found) = annotation.downcast_ref::<EventMatches>() {
        return matches_of(py, found);
    }
    // Chosen by a selection: the matches of every selector that chose it.
    let mut all = Vec::new();
    if let Some(selected) = annotation.downcast_ref::<Selected>() {
        for found in selected.chosen.iter().filter_map(|(_, m)| m.as_ref()) {
            all.extend(matches_of(py, found)?);
        }
    }
    Ok(all)
}

/// `found` as `pyetwkit.sigma.Match` objects.
pub fn matches_of<'py>(py: Python<'py>, found: &EventMatches) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let module = py.import("pyetwkit.sigma")?;
    let (rule_cls, match_cls) = (module.getattr("Rule")?, module.getattr("Match")?);
    found
        .matches
        .iter()
        .map(|(i, fields)| {
            let info = info_dict(py, &found.rules.rules()[*i as usize].info)?;
            let rule = rule_cls.call_method1("_from_info", (info,))?;
            match_cls.call1((
                rule,
                PyDict::from_sequence(&fields.clone().into_pyobject(py)?)?,
            ))
        })
        .collect()
}

/// A dict's items, kept alive while their strings are borrowed.
struct Items<'py>(Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>);

impl<'py> Items<'py> {
    fn of(fields: &Bound<'py, PyDict>) -> Items<'py> {
        Items(fields.iter().collect())
    }

    fn borrow(&self) -> PyResult<Vec<(&str, FieldValue<'_>)>> {
        self.0
            .iter()
            .map(|(k, v)| Ok((key_str(k)?, field_value(v)?)))
            .collect()
    }
}

fn key_str<'a>(k: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    k.cast::<PyString>()
        .map_err(|_| PyTypeError::new_err("field names must be str"))?
        .to_str()
}

fn field_value<'a>(v: &'a Bound<'_, PyAny>) -> PyResult<FieldValue<'a>> {
    if v.is_none() {
        Ok(FieldValue::Null)
    } else if let Ok(s) = v.cast::<PyString>() {
        Ok(FieldValue::Str(s.to_str()?))
    } else if let Ok(b) = v.cast::<PyBool>() {
        Ok(FieldValue::Bool(b.is_true()))
    } else if v.is_instance_of::<PyInt>() {
        match v.extract::<i64>() {
            Ok(i) => Ok(FieldValue::Int(i)),
            Err(_) => match v.extract::<u64>() {
                Ok(u) => Ok(FieldValue::UInt(u)),
                Err(_) => Ok(FieldValue::Float(v.extract::<f64>()?)),
            },
        }
    } else if let Ok(f) = v.cast::<PyFloat>() {
        Ok(FieldValue::Float(f.value()))
    } else {
        Err(PyTypeError::new_err(format!(
            "field values must be str, int, float, bool or None, not {}",
            v.get_type().name()?
        )))
    }
}

/// A rule's metadata as a dict, for Python's `sigma.Rule`.
fn info_dict<'py>(py: Python<'py>, info: &RuleInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", &info.id)?;
    d.set_item("name", &info.name)?;
    d.set_item("title", &info.title)?;
    d.set_item("status", &info.status)?;
    d.set_item("level", &info.level)?;
    d.set_item("author", &info.author)?;
    d.set_item("description", &info.description)?;
    d.set_item("tags", &info.tags)?;
    d.set_item("references", &info.references)?;
    d.set_item("falsepositives", &info.falsepositives)?;
    d.set_item("product", &info.logsource.product)?;
    d.set_item("category", &info.logsource.category)?;
    d.set_item("service", &info.logsource.service)?;
    d.set_item("source", &info.source)?;
    Ok(d)
}

type Matched = (u32, Vec<(String, String)>);

impl PyRuleSet {
    /// Runs `f` with the rule set's buffers (fresh ones if another thread holds them).
    fn with_scratch<T>(&self, f: impl FnOnce(&mut Scratch) -> T) -> T {
        match self.scratch.try_lock() {
            Ok(mut held) => f(&mut held),
            Err(_) => f(&mut Scratch::default()),
        }
    }

    fn wrap(inner: RuleSet) -> PyRuleSet {
        PyRuleSet {
            inner: Arc::new(inner),
            scratch: Mutex::new(Scratch::default()),
            mapper: Mutex::new(EtwMapper::default()),
        }
    }
}

fn options(
    levels: Option<Vec<String>>,
    statuses: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    placeholders: Option<HashMap<String, Vec<String>>>,
) -> LoadOptions {
    LoadOptions {
        levels,
        statuses,
        tags,
        placeholders: placeholders.unwrap_or_default(),
    }
}

#[pymethods]
impl PyRuleSet {
    #[staticmethod]
    #[pyo3(signature = (paths, levels=None, statuses=None, tags=None, placeholders=None))]
    fn load(
        py: Python<'_>,
        paths: Vec<PathBuf>,
        levels: Option<Vec<String>>,
        statuses: Option<Vec<String>>,
        tags: Option<Vec<String>>,
        placeholders: Option<HashMap<String, Vec<String>>>,
    ) -> PyRuleSet {
        let opts = options(levels, statuses, tags, placeholders);
        PyRuleSet::wrap(py.detach(|| RuleSet::load(&paths, &opts)))
    }

    /// Rules from YAML texts: `[(label, text)]`.
    #[staticmethod]
    #[pyo3(signature = (texts, levels=None, statuses=None, tags=None, placeholders=None))]
    fn from_texts(
        py: Python<'_>,
        texts: Vec<(String, String)>,
        levels: Option<Vec<String>>,
        statuses: Option<Vec<String>>,
        tags: Option<Vec<String>>,
        placeholders: Option<HashMap<String, Vec<String>>>,
    ) -> PyRuleSet {
        let opts = options(levels, statuses, tags, placeholders);
        PyRuleSet::wrap(py.detach(|| RuleSet::from_texts(&texts, &opts)))
    }

    fn __len__(&self) -> usize {
        self.inner.rules().len()
    }

    #[getter]
    fn rejected(&self) -> Vec<(String, String)> {
        self.inner
            .rejected()
            .iter()
            .map(|r| (r.source.clone(), r.reason.clone()))
            .collect()
    }

    #[getter]
    fn filtered_out(&self) -> usize {
        self.inner.filtered_out()
    }

    #[getter]
    fn counts_by_logsource(&self) -> std::collections::BTreeMap<String, usize> {
        self.inner.counts_by_logsource()
    }

    /// Every rule's metadata, in rule order.
    fn rule_infos<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .rules()
            .iter()
            .map(|r| info_dict(py, &r.info))
            .collect()
    }

    /// Every correlation's metadata, in order.
    fn correlation_infos<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .correlations()
            .iter()
            .map(|c| info_dict(py, &c.info))
            .collect()
    }

    /// `[(rule index, [(field, text)])]` of the rules that match `fields`.
    #[pyo3(signature = (fields, product=None, category=None, service=None))]
    fn match_fields(
        &self,
        fields: &Bound<'_, PyDict>,
        product: Option<&str>,
        category: Option<&str>,
        service: Option<&str>,
    ) -> PyResult<Vec<Matched>> {
        let items = Items::of(fields);
        let borrowed = items.borrow()?;
        let ls = LogSource::new(product, category, service);
        let found = self.with_scratch(|s| self.inner.matches(&borrowed, &ls, s));
        Ok(found
            .into_iter()
            .map(|m| (m.rule, self.inner.matched_fields(m, &borrowed)))
            .collect())
    }

    /// `[(rule index, [(field, text)])]` of the rules that match an ETW event
    /// through the ETW-to-Sigma mapping.
    fn match_event(&self, event: PyRef<'_, PyEtwEvent>) -> PyResult<Vec<Matched>> {
        let mut mapper = self
            .mapper
            .lock()
            .map_err(|_| PyValueError::new_err("mapper poisoned"))?;
        let Some(mapped) = mapper.map(&event.event) else {
            return Ok(Vec::new());
        };
        Ok(self.with_scratch(|s| match_mapped(&self.inner, &mapped, s)))
    }

    /// Times matching `events` in Rust, with the GIL released: the loop a
    /// pipeline runs, without Python in it. Returns events, seconds (best of
    /// `repeat`), matches and the median number of candidate rules per event.
    #[pyo3(signature = (events, product=None, category=None, service=None, repeat=3))]
    fn benchmark(
        &self,
        py: Python<'_>,
        events: Vec<Bound<'_, PyDict>>,
        product: Option<&str>,
        category: Option<&str>,
        service: Option<&str>,
        repeat: usize,
    ) -> PyResult<HashMap<&'static str, f64>> {
        let owned: Vec<FlatEvent> = events
            .iter()
            .map(|d| Ok(FlatEvent::of(&Items::of(d).borrow()?)))
            .collect::<PyResult<_>>()?;
        let ls = LogSource::new(product, category, service);
        let rules = Arc::clone(&self.inner);
        let timing = py.detach(move || time_matching(&rules, &owned, &ls, repeat));
        Ok(HashMap::from([
            ("events", events.len() as f64),
            ("seconds", timing.best_seconds),
            ("matches", timing.matches as f64),
            ("median_candidates", timing.median_candidates() as f64),
        ]))
    }

    /// A stateful matcher over a stream, for correlation rules.
    #[pyo3(signature = (max_groups=100_000, max_entries=10_000))]
    fn stream(&self, max_groups: usize, max_entries: usize) -> PySigmaStream {
        let options = StreamOptions {
            max_groups,
            max_entries,
        };
        PySigmaStream {
            inner: Mutex::new(Stream::new(Arc::clone(&self.inner), options)),
        }
    }
}

/// What `SigmaStream.push` returns per hit: a rule match
/// `("rule", index, fields, None, None)` or a correlation
/// `("correlation", index, group, count, timestamp)`.
type PyHit = (
    &'static str,
    u32,
    Vec<(String, String)>,
    Option<f64>,
    Option<f64>,
);

/// An ETW event under Sigma's names: `(categories, [(field, value)])`, or
/// `None` when the mapping does not cover it. A fresh mapper: volumes and
/// processes seen earlier are not known here.
#[pyfunction]
pub fn sigma_map_event(event: PyRef<'_, PyEtwEvent>) -> Option<MappedOut> {
    let mapped = EtwMapper::default().map(&event.event)?;
    let fields = mapped
        .fields
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                match v {
                    pyetwkit_sigma::etw::Owned::Str(s) => FieldOut::Str(s),
                    pyetwkit_sigma::etw::Owned::UInt(u) => FieldOut::Int(u),
                },
            )
        })
        .collect();
    Some((mapped.categories.to_vec(), fields))
}

/// The ETW-to-Sigma mapping table, one row per mapping:
/// `(source, [categories], fields)`, the source written as
/// `kernel Process opcodes 1` or `Microsoft-Windows-Kernel-Process {guid} ids 1`.
#[pyfunction]
pub fn sigma_mappings() -> Vec<(String, Vec<&'static str>, &'static str)> {
    pyetwkit_sigma::etw::MAPPINGS
        .iter()
        .map(|m| (m.source.to_string(), m.categories.to_vec(), m.fields))
        .collect()
}

/// `(categories, [(field, value)])`.
type MappedOut = (Vec<&'static str>, Vec<(&'static str, FieldOut)>);

#[derive(IntoPyObject)]
pub enum FieldOut {
    Str(String),
    Int(u64),
}

#[pyclass(module = "pyetwkit._core", name = "SigmaStream", frozen)]
pub struct PySigmaStream {
    inner: Mutex<Stream>,
}

#[pymethods]
impl PySigmaStream {
    #[pyo3(signature = (fields, timestamp, product=None, category=None, service=None))]
    fn push(
        &self,
        fields: &Bound<'_, PyDict>,
        timestamp: f64,
        product: Option<&str>,
        category: Option<&str>,
        service: Option<&str>,
    ) -> PyResult<Vec<PyHit>> {
        if !timestamp.is_finite() {
            return Err(PyValueError::new_err(
                "timestamp must be a finite number of seconds",
            ));
        }
        let items = Items::of(fields);
        let borrowed = items.borrow()?;
        let ls = LogSource::new(product, category, service);
        let mut stream = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("stream poisoned"))?;
        let hits = stream.push(&borrowed, &ls, timestamp);
        let rules = Arc::clone(stream.rules());
        Ok(hits
            .into_iter()
            .map(|h| match h {
                Hit::Rule(m) => (
                    "rule",
                    m.rule,
                    rules.matched_fields(m, &borrowed),
                    None,
                    None,
                ),
                Hit::Correlation(c) => (
                    "correlation",
                    c.correlation,
                    c.group,
                    Some(c.count),
                    Some(c.timestamp),
                ),
            })
            .collect())
    }

    /// `(events, groups_evicted, entries_evicted)`: what bounding the state cost.
    #[getter]
    fn stats(&self) -> PyResult<(u64, u64, u64)> {
        let s = self
            .inner
            .lock()
            .map_err(|_| PyValueError::new_err("stream poisoned"))?
            .stats();
        Ok((s.events, s.groups_evicted, s.entries_evicted))
    }
}
