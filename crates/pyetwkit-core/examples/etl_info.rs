//! Prints a file's logfile header and record counts: `cargo run --example etl_info FILE...`

use pyetwkit_core::etl::EtlReader;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for path in std::env::args().skip(1) {
        let reader = EtlReader::open(&path)?;
        let h = reader.header().clone();
        let counts = reader.count_records()?;
        println!(
            "{path}: logger={:?} os={}.{} build={} cpus={} ptr={} lost={} mode={:#x} clock={} freq={} mhz={} buffers_written={} records={} {:?}",
            h.logger_name, h.os_major, h.os_minor, h.os_build, h.cpu_count, h.pointer_size,
            h.events_lost, h.log_file_mode, h.clock_type.as_str(), h.perf_freq, h.cpu_speed_mhz,
            h.buffers_written, counts.records, counts.by_header_type()
        );
    }
    Ok(())
}
