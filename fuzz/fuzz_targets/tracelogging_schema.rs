#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pyetwkit_core::fuzzing::tracelogging_schema(data));
