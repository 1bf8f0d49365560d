//! Prints decoded events: `cargo run --example decode FILE [LIMIT]`

use pyetwkit_core::decode::decode;
use pyetwkit_core::etl::EtlReader;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: decode FILE [LIMIT]")?;
    let limit: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let mut shown = 0;
    for event in EtlReader::open(&path)? {
        let event = event?;
        if let Some(d) = decode(&event) {
            let props: Vec<String> = d
                .properties
                .iter()
                .map(|(k, v)| format!("{k}={}", v.to_json()))
                .collect();
            println!("{:?} complete={} {}", d.name, d.complete, props.join(" "));
            shown += 1;
            if shown >= limit {
                break;
            }
        }
    }
    Ok(())
}
