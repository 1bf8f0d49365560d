//! Lists the processes a file's kernel Process events describe:
//! `cargo run --example processes FILE...`

use pyetwkit_core::etl::EtlReader;
use pyetwkit_core::process::process_event;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for path in std::env::args().skip(1) {
        for event in EtlReader::open(&path)? {
            let event = event?;
            if let Some((opcode, info)) = process_event(&event) {
                println!(
                    "v{} op{opcode} pid={} ppid={} {:?} {:?}",
                    event.version, info.pid, info.parent_pid, info.image_name, info.command_line
                );
            }
        }
    }
    Ok(())
}
