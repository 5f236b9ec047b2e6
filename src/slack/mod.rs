//! Slack output: every Web API call goes through [`SlackApi`], which adds timeouts, retries,
//! error codes in logs and metrics, and at-most-once posting; [`OAuthClient`] makes the
//! `oauth.v2.access` calls of installing and refreshing tokens; [`ConnectionsOpener`] opens
//! Socket Mode connections.

mod client;
mod connections;
mod error;
mod oauth;
mod pacer;

pub use client::{SlackApi, SlackClientSettings, make_hyper_client};
pub use connections::ConnectionsOpener;
pub use error::SlackError;
pub use oauth::{Named, OAuthClient, OAuthGrant};
pub use pacer::Pacer;
