//! A slash command request body, and `/feedback` text on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    circlet::fuzzing::command_body(data);
    if let Ok(text) = std::str::from_utf8(data) {
        circlet::fuzzing::feedback_text(text);
    }
});
