#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pyetwkit_core::fuzzing::manifest_xml(data));
