//! ETW events as Arrow: the events table (one column per public field, the
//! names and order of `to_json`), built in record batches straight from the
//! core's events, with no Python object per value.

mod columns;
mod events;

pub use events::{event_schema, BatchOptions, EventBatches};
