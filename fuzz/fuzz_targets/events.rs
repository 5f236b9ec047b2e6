//! An Events API request body, as ingress and the capture and circle workers read it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| circlet::fuzzing::event_body(data));
