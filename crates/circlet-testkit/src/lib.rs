//! Circlet's test doubles, kept out of the product's library: [`fake_slack`], a fake Slack Web
//! API on 127.0.0.1 that records every call, [`fake_socket_mode`], a fake Socket Mode server that
//! delivers envelopes and records acks, and [`sender`], which posts to Circlet signed as Slack
//! signs. The integration tests, the benches and `circlet demo` use them.
//!
//! Nothing here depends on Circlet: Circlet depends on this crate for its demo, so the fake
//! speaks only Slack's wire format and the sender computes Slack's signature itself.

pub mod fake_slack;
pub mod fake_socket_mode;
pub mod sender;

pub use fake_slack::{FakeSlack, Fault, Grant, RecordedCall};
pub use fake_socket_mode::{Ack, ClientFrame, DisconnectReason, FakeSocketMode, NoConnection};
pub use sender::{Answer, FORM, JSON, SignedSender};
