//! Typed ids for test setup, from the literals tests use. They live for the whole test run
//! (leaked), so a struct literal or a closure can borrow one without a `let` per id.

use circlet::ids::{ChannelId, TeamId, UserId};

pub fn team(id: &str) -> &'static TeamId {
    Box::leak(Box::new(TeamId::parse(id).expect("a team id")))
}

pub fn channel(id: &str) -> &'static ChannelId {
    Box::leak(Box::new(ChannelId::parse(id).expect("a channel id")))
}

pub fn user(id: &str) -> &'static UserId {
    Box::leak(Box::new(UserId::parse(id).expect("a user id")))
}
