//! Times the pipeline alone (events preloaded) with a 1% filter:
//! `cargo run --release --example pipeline_filter FILE...`

use std::time::Instant;

use pyetwkit_core::etl::EtlReader;
use pyetwkit_core::filter::Filter;
use pyetwkit_core::pipeline::{ChannelConfig, EtlReplay, Pipeline, Received};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = std::env::var("FILTER")
        .unwrap_or_else(|_| r#"{"op":"provider","names":["DiskIo"]}"#.into());
    if std::env::var("MODE").as_deref() == Ok("raw") {
        // The floor: walk the preloaded events and drop them, no pipeline.
        for round in 0..3 {
            let mut n = 0u64;
            let mut seconds = 0.0;
            let filter = Filter::from_json(&spec)?;
            let table = pyetwkit_core::process::ProcessTable::default();
            for path in std::env::args().skip(1) {
                let events: Vec<_> = EtlReader::open(&path)?.collect::<Result<_, _>>()?;
                let start = Instant::now();
                for e in events {
                    n += filter.matches(&e, &table) as u64;
                }
                seconds += start.elapsed().as_secs_f64();
            }
            println!("raw round {round}: {n} matched, {:.1} ms", seconds * 1e3);
        }
        return Ok(());
    }
    for round in 0..3 {
        let mut total = 0u64;
        let mut delivered = 0u64;
        let mut seconds = 0.0;
        for path in std::env::args().skip(1) {
            let source = EtlReplay::preloaded(EtlReader::open(&path)?, None);
            let filter = Filter::from_json(&spec)?;
            let start = Instant::now();
            let (mut pipeline, mut consumer) =
                Pipeline::start(Box::new(source), Some(filter), &ChannelConfig::default())?;
            loop {
                match consumer.next_events(1024, None) {
                    Received::Events(b) => delivered += b.len() as u64,
                    _ => break,
                }
            }
            pipeline.join();
            seconds += start.elapsed().as_secs_f64();
            total += pipeline.stats().snapshot().received;
        }
        println!(
            "round {round}: {total} events, {delivered} delivered, {:.1} ms, {:.0} ns/event",
            seconds * 1e3,
            seconds * 1e9 / total as f64
        );
    }
    Ok(())
}
