//! Export filters: an API query string, `/feedback export` and `/feedback report` words.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    circlet::fuzzing::export_filter(data);
});
