//! Slack output: every Web API call goes through [`SlackApi`], which adds timeouts, retries,
//! error codes in logs and metrics, and at-most-once posting.

mod client;
mod error;
mod pacer;

pub use client::{SlackApi, SlackClientSettings, make_hyper_client};
pub use error::SlackError;
