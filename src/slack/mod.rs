//! Slack output: every Web API call goes through [`SlackApi`], which adds timeouts, retries,
//! error codes in logs and metrics, and at-most-once posting; [`OAuthClient`] makes the
//! `oauth.v2.access` calls of installing and refreshing tokens.

mod client;
mod error;
mod oauth;
mod pacer;

pub use client::{SlackApi, SlackClientSettings, make_hyper_client};
pub use error::SlackError;
pub use oauth::{Named, OAuthClient, OAuthGrant};
