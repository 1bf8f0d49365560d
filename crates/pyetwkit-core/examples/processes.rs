//! Lists the processes a file's process events describe:
//! `cargo run --example processes FILE...`

use pyetwkit_core::stages::process::process_event;
use pyetwkit_core::stages::StagedEvents;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for path in std::env::args().skip(1) {
        for event in StagedEvents::open(&path, &[])? {
            let event = event?;
            if let Some((opcode, info)) = process_event(&event) {
                println!(
                    "v{} op{opcode} pid={} {:?} {:?}",
                    event.version, info.pid, info.image_name, info.command_line
                );
            }
        }
    }
    Ok(())
}
