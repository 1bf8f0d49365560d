//! Decodes every event of the files given, for profiling the decoders:
//! `cargo run --release --example decode_all FILE... [--manifest MAN]...`

use pyetwkit_core::decode::manifest;
use pyetwkit_core::stages::StagedEvents;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut files, mut manifests) = (Vec::new(), Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--manifest" => manifests.push(manifest::load(
                args.next().ok_or("--manifest MAN")?.as_ref(),
            )?),
            _ => files.push(arg),
        }
    }
    let started = std::time::Instant::now();
    let (mut events, mut decoded, mut complete) = (0u64, 0u64, 0u64);
    for path in &files {
        let manifests: Vec<_> = manifests.iter().collect();
        for event in StagedEvents::open(path, &manifests)? {
            let event = event?;
            events += 1;
            if let Some(d) = event.decode() {
                decoded += 1;
                complete += u64::from(d.complete);
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{events} events, {decoded} decoded, {complete} complete in {secs:.3} s ({:.0} ns/event)",
        secs * 1e9 / events as f64
    );
    Ok(())
}
