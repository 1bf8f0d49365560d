//! Times the pipeline in Rust alone (file preloaded) with a filter keeping 1%:
//! `cargo run --release --example pipeline_filter FILE...`

use std::time::Instant;

use pyetwkit_core::etl::EtlReader;
use pyetwkit_core::pipeline::{ChannelConfig, EtlReplay, Pipeline, Received};
use pyetwkit_core::stages::{self, filter::Filter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec = std::env::var("FILTER")
        .unwrap_or_else(|_| r#"{"op":"provider","names":["DiskIo"]}"#.into());
    for round in 0..3 {
        let mut total = 0u64;
        let mut delivered = 0u64;
        let mut seconds = 0.0;
        for path in std::env::args().skip(1) {
            let source = EtlReplay::preloaded(EtlReader::open(&path)?, None);
            let filter = Filter::from_json(&spec)?;
            let stages =
                stages::for_recording(path.as_ref(), &[], Some(filter), Default::default());
            let start = Instant::now();
            let (mut pipeline, mut consumer) =
                Pipeline::start(Box::new(source), stages, &ChannelConfig::default())?;
            while let Received::Events(b) = consumer.next_events(1024, None) {
                delivered += b.len() as u64;
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
