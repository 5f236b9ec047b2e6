//! A modal's `private_metadata`: arbitrary strings must never open, and any context Circlet
//! seals must open exactly while it is fresh.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    raw: String,
    team_id: String,
    channel_id: String,
    message_ts: String,
    user_id: String,
    issued_at: i64,
    now: i64,
}

fuzz_target!(|input: Input| {
    circlet::fuzzing::private_metadata(&input.raw, input.now);
    circlet::fuzzing::sealed_metadata(
        [
            &input.team_id,
            &input.channel_id,
            &input.message_ts,
            &input.user_id,
        ],
        input.issued_at,
        input.now,
    );
});
