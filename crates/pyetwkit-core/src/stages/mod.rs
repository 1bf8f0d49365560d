//! The chain of stages every event goes through, whatever its source: schema
//! attach, then process context, then the filter. The threaded pipeline runs it
//! on the source's side; `open_etl` and the CLI run it on a read-ahead thread
//! (`read_ahead`), the Arrow batches inline. So a feature of
//! a stage works for files and live sessions alike.

pub mod filter;
pub mod process;
pub mod read_ahead;
pub mod schemas;

use crate::event::EtwEvent;
use filter::Filter;
use process::ProcessTable;
use schemas::{RegistryStats, SchemaRegistry};

/// Where events get their payload schema: a file source learns schemas from
/// the metadata it carries and the manifests given; the live source asks TDH.
/// `attach` sees every event, in order, before the other stages.
pub trait SchemaSource: Send + Sync + 'static {
    /// Attaches `event`'s schema when known, or learns from a metadata event.
    fn attach(&mut self, event: &mut EtwEvent);
    /// Where the schemas so far came from, and what could not be used.
    fn stats(&self) -> RegistryStats;
}

impl SchemaSource for SchemaRegistry {
    #[inline]
    fn attach(&mut self, event: &mut EtwEvent) {
        self.observe(event);
    }

    fn stats(&self) -> RegistryStats {
        SchemaRegistry::stats(self)
    }
}

/// The schema stage: a recording's registry is called directly (inlined on the
/// hot path of `open_etl`); other sources go through the trait.
enum Schemas {
    Recording(SchemaRegistry),
    Other(Box<dyn SchemaSource>),
}

impl Schemas {
    #[inline]
    fn attach(&mut self, event: &mut EtwEvent) {
        match self {
            Schemas::Recording(registry) => registry.observe(event),
            Schemas::Other(source) => source.attach(event),
        }
    }

    fn stats(&self) -> RegistryStats {
        match self {
            Schemas::Recording(registry) => registry.stats(),
            Schemas::Other(source) => source.stats(),
        }
    }
}

/// A stage plugged in after the filter by a layer above the core (Sigma
/// rules): it sees each event the filter kept, may annotate it
/// (`EtwEvent::annotation`), and says whether it goes on.
pub trait Gate: Send + Sync + 'static {
    fn admit(&mut self, event: &mut EtwEvent) -> bool;
}

/// The chain: schema attach → process context → filter → gate.
pub struct Stages {
    schemas: Schemas,
    processes: ProcessTable,
    filter: Option<Filter>,
    gate: Option<Box<dyn Gate>>,
}

impl Stages {
    pub fn new(schemas: Box<dyn SchemaSource>, filter: Option<Filter>) -> Stages {
        Stages {
            schemas: Schemas::Other(schemas),
            processes: ProcessTable::default(),
            filter,
            gate: None,
        }
    }

    /// The chain of a recording, whose schemas come from `registry`.
    pub fn for_registry(registry: SchemaRegistry, filter: Option<Filter>) -> Stages {
        Stages {
            schemas: Schemas::Recording(registry),
            processes: ProcessTable::default(),
            filter,
            gate: None,
        }
    }

    /// Starts the process stage from a table filled beforehand (a prescan).
    pub fn with_processes(mut self, processes: ProcessTable) -> Stages {
        self.processes = processes;
        self
    }

    /// Ends the chain with `gate`.
    pub fn with_gate(mut self, gate: Box<dyn Gate>) -> Stages {
        self.gate = Some(gate);
        self
    }

    /// Runs `event` through the chain; false when the filter or the gate
    /// rejects it.
    #[inline]
    pub fn process(&mut self, event: &mut EtwEvent) -> bool {
        self.schemas.attach(event);
        // Before filtering: the process-name filter reads the event's context.
        self.processes.annotate(event);
        self.filter.as_ref().is_none_or(|f| f.matches(event))
            && self.gate.as_mut().is_none_or(|g| g.admit(event))
    }

    pub fn schema_stats(&self) -> RegistryStats {
        self.schemas.stats()
    }

    pub fn processes(&self) -> &ProcessTable {
        &self.processes
    }
}

/// The chain for a recording at `path`: schemas from the manifests given
/// (they win) and from what the file embeds; processes read ahead first when
/// `prescan_processes` (see `ProcessTable::prescan`).
pub fn for_recording(
    path: &std::path::Path,
    manifests: &[&crate::decode::manifest::Manifest],
    filter: Option<Filter>,
    prescan: Prescan,
) -> Stages {
    let mut schemas = SchemaRegistry::default();
    for m in manifests {
        schemas.add_manifest(m);
    }
    if prescan.schemas {
        schemas.prescan(path);
    }
    let processes = match prescan.processes {
        true => ProcessTable::prescan(path, &schemas),
        false => ProcessTable::default(),
    };
    Stages::for_registry(schemas, filter).with_processes(processes)
}

/// What a recording's stages read ahead before its events stream, each at the
/// cost of one pass over the file's records (no payload is decoded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prescan {
    /// The process table (`ProcessTable::prescan`): events are named even when
    /// their process is described later.
    pub processes: bool,
    /// The schemas the file embeds (`SchemaRegistry::prescan`): events decode
    /// even when their schema comes later in the file.
    pub schemas: bool,
}

/// Opens the recording at `path` and builds its chain: the filter (a JSON
/// spec) compiled, the manifests added, processes prescanned when asked. What
/// `open_etl` and a replayed session both start from.
pub fn open_recording(
    path: &std::path::Path,
    manifests: &[std::sync::Arc<crate::decode::manifest::Manifest>],
    filter_json: Option<&str>,
    prescan: Prescan,
) -> Result<(crate::etl::EtlReader, Stages), crate::Error> {
    let filter = filter_json.map(Filter::from_json).transpose()?;
    let reader = crate::etl::EtlReader::open(path)?;
    let manifests: Vec<_> = manifests.iter().map(|m| &**m).collect();
    let stages = for_recording(path, &manifests, filter, prescan);
    Ok((reader, stages))
}

/// A recording's events through the chain, inline (no thread): what `open_etl`
/// runs on its read-ahead thread, for Rust callers. Events the filter rejects
/// are skipped.
pub struct StagedEvents {
    reader: crate::etl::EtlReader,
    stages: Stages,
}

impl StagedEvents {
    pub fn new(reader: crate::etl::EtlReader, stages: Stages) -> StagedEvents {
        StagedEvents { reader, stages }
    }

    /// Opens `path` with the stages of `for_recording` (no filter).
    pub fn open(
        path: impl AsRef<std::path::Path>,
        manifests: &[&crate::decode::manifest::Manifest],
    ) -> crate::Result<StagedEvents> {
        let path = path.as_ref();
        let reader = crate::etl::EtlReader::open(path)?;
        Ok(StagedEvents::new(
            reader,
            for_recording(path, manifests, None, Prescan::default()),
        ))
    }

    pub fn stages(&self) -> &Stages {
        &self.stages
    }

    /// Bytes of the file consumed so far, for progress.
    pub fn bytes_read(&self) -> u64 {
        self.reader.bytes_read()
    }

    pub fn file_len(&self) -> u64 {
        self.reader.file_len()
    }
}

impl Iterator for StagedEvents {
    type Item = crate::Result<EtwEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.reader.next_event() {
                Ok(Some(mut event)) => {
                    if self.stages.process(&mut event) {
                        return Some(Ok(event));
                    }
                }
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
