//! Python strings for property names, made once and reused. Decoded events
//! share their names with their schema (or a static layout table), so a name
//! is known by its address: the cached `str` (hash included) is handed out
//! instead of a new string per property per event.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

use pyetwkit_core::decode::value::Name;

/// Past this many names (many manifests, many schemas), the cache starts over.
const MAX_NAMES: usize = 1 << 16;

struct Entry {
    /// Keeps a shared name's allocation, so its address cannot be reused.
    _owner: Option<Arc<str>>,
    text: Py<PyString>,
}

/// Hashes an address: already unique, it only needs spreading.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type Cache = HashMap<(usize, usize), Entry, BuildHasherDefault<AddressHasher>>;

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
