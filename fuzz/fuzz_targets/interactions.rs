//! An interactivity request body (`payload=<json>`), as ingress and the modal check read it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| circlet::fuzzing::interaction_body(data));
