//! ETW events as Arrow: the events table (one column per public field, the
//! names and order of `to_json`), built in record batches straight from the
//! core's events, with no Python object per value; and its export to Parquet
//! (partitioned by provider and event), Arrow IPC, JSON Lines and CSV.

mod columns;
mod events;
mod export;
mod schemas;
mod typed;

#[cfg(test)]
mod testing;

pub use events::{event_schema, BatchOptions, EventBatches, TableBuilder};
pub use export::{hive_escape, ExportError, Exporter, Format};
pub use schemas::{default_header, SchemaName, SchemaTables, PROPERTY_KEY, SCHEMA_KEY};
pub use typed::MIXED_KEY;
