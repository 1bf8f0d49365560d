//! Python strings for property names, made once and reused. Decoded events
//! share their names with their schema (or a static layout table), so a name
//! is known by its address: the cached `str` (hash included) is handed out
//! instead of a new string per property per event.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};

use pyetwkit_core::{FastMap, Guid, Name};

/// Past this many names (many manifests, many schemas), the cache starts over.
const MAX_NAMES: usize = 1 << 16;

struct Entry {
    /// Keeps a shared name's allocation, so its address cannot be reused.
    _owner: Option<Arc<str>>,
    text: Py<PyString>,
}

type Cache = FastMap<(usize, usize), Entry>;

static CACHE: PyOnceLock<Mutex<Cache>> = PyOnceLock::new();

/// The Python `str`s for decoded names, in order, taking the lock once. Only
/// strings are made while it is held: no Python code runs that could switch
/// threads and deadlock on it.
pub fn py_names<'a, 'py>(
    py: Python<'py>,
    names: impl IntoIterator<Item = &'a Name>,
) -> Vec<Bound<'py, PyString>> {
    let cache = CACHE.get_or_init(py, || Mutex::new(Cache::default()));
    // A poisoned lock only means another thread panicked mid-insert: the map is still sound.
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    names
        .into_iter()
        .map(|name| lookup(py, &mut cache, name))
        .collect()
}

/// The Python `str` for one decoded name.
pub fn py_name<'py>(py: Python<'py>, name: &Name) -> Bound<'py, PyString> {
    let mut names = py_names(py, [name]);
    names.pop().unwrap_or_else(|| PyString::new(py, name))
}

fn lookup<'py>(py: Python<'py>, cache: &mut Cache, name: &Name) -> Bound<'py, PyString> {
    let key = (name.as_ptr() as usize, name.len());
    if let Some(entry) = cache.get(&key) {
        return entry.text.bind(py).clone();
    }
    if cache.len() >= MAX_NAMES {
        cache.clear();
    }
    let text = PyString::new(py, name);
    let owner = match name {
        Name::Shared(arc) => Some(arc.clone()),
        Name::Static(_) => None,
    };
    cache.insert(
        key,
        Entry {
            _owner: owner,
            text: text.clone().unbind(),
        },
    );
    text
}

/// Provider GUIDs' Python strings: a trace has a few dozen providers, and every
/// event's `provider_id` is one of them, so each is made once and handed out
/// again (the same `str` object for every event of a provider).
static GUIDS: PyOnceLock<Mutex<FastMap<Guid, Py<PyString>>>> = PyOnceLock::new();

/// Past this many GUIDs (not a provider's: activity ids never come here), start over.
const MAX_GUIDS: usize = 4096;

pub fn py_guid<'py>(py: Python<'py>, guid: Guid) -> Bound<'py, PyString> {
    let guids = GUIDS.get_or_init(py, || Mutex::new(FastMap::default()));
    let mut guids = guids.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(text) = guids.get(&guid) {
        return text.bind(py).clone();
    }
    if guids.len() >= MAX_GUIDS {
        guids.clear();
    }
    let text = PyString::new(py, &guid.to_string());
    guids.insert(guid, text.clone().unbind());
    text
}

/// A dict with one event layout's keys (values `None`), copied for each event of
/// that layout: copying a dict of the right size is cheaper than growing a new
/// one key by key.
struct Template {
    /// The names' addresses, to check that a hit really is this layout.
    addresses: Vec<(usize, usize)>,
    /// Keeps shared names alive, so their addresses cannot be reused.
    _owners: Vec<Arc<str>>,
    keys: Keys,
    dict: Py<PyDict>,
}

type Templates = FastMap<(usize, usize, usize), Template>;

static TEMPLATES: PyOnceLock<Mutex<Templates>> = PyOnceLock::new();

/// A layout's key strings, in property order, shared by every event of the layout.
pub type Keys = Arc<Vec<Py<PyString>>>;

fn address(name: &Name) -> (usize, usize) {
    (name.as_ptr() as usize, name.len())
}

/// A fresh dict with the properties' names as keys (values `None`), and the
/// key strings in order, for the caller to set the values.
pub fn keyed_dict<'py, V>(
    py: Python<'py>,
    properties: &[(Name, V)],
) -> PyResult<(Bound<'py, PyDict>, Keys)> {
    let (dict, keys) = template(py, properties)?;
    Ok((dict.bind(py).copy()?, keys))
}

/// The key strings of a layout, in order (no dict made).
pub fn layout_keys<V>(py: Python<'_>, properties: &[(Name, V)]) -> PyResult<Keys> {
    Ok(template(py, properties)?.1)
}

/// A layout's template dict (not to be changed: callers copy it) and keys.
fn template<V>(py: Python<'_>, properties: &[(Name, V)]) -> PyResult<(Py<PyDict>, Keys)> {
    let Some((first, _)) = properties.first() else {
        return Ok((PyDict::new(py).unbind(), Arc::default()));
    };
    let (at, len) = address(first);
    let key = (at, len, properties.len());
    let templates = TEMPLATES.get_or_init(py, || Mutex::new(Templates::default()));
    {
        let templates = templates.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = templates.get(&key) {
            let same = t
                .addresses
                .iter()
                .zip(properties)
                .all(|(a, (n, _))| *a == address(n));
            if same {
                return Ok((t.dict.clone_ref(py), t.keys.clone()));
            }
        }
    }
    // Built outside the lock: the names lock is taken inside.
    let keys = py_names(py, properties.iter().map(|(n, _)| n));
    let dict = PyDict::new(py);
    for k in &keys {
        dict.set_item(k, py.None())?;
    }
    let keys: Keys = Arc::new(keys.into_iter().map(Bound::unbind).collect());
    let template = Template {
        addresses: properties.iter().map(|(n, _)| address(n)).collect(),
        _owners: properties
            .iter()
            .filter_map(|(n, _)| match n {
                Name::Shared(arc) => Some(arc.clone()),
                Name::Static(_) => None,
            })
            .collect(),
        keys: keys.clone(),
        dict: dict.clone().unbind(),
    };
    let mut templates = templates.lock().unwrap_or_else(|e| e.into_inner());
    if templates.len() >= MAX_NAMES {
        templates.clear();
    }
    templates.insert(key, template);
    Ok((dict.unbind(), keys))
}
