//! Circlet: a Slack app that turns a brand's customer-feedback circles into tagged product
//! insights.
//!
//! Layout follows the request's path: [`ingress`] verifies, persists and acknowledges Slack's
//! requests; the [`inbox`] queues that work durably and its workers hand it to [`domain`]
//! services; [`store`] holds all SQL for SQLite and PostgreSQL; [`slack`] makes every outbound
//! Web API call. [`app`] wires them together; `main.rs` is only the command line.
//!
//! Imports point down: app → ingress, api, config → domain → store, slack → inbox → leaf types
//! ([`clock`], [`ids`], [`metrics`], [`secret`], [`store_error`]); `tests/integration/layers.rs` checks it.

pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod inbox;
pub mod ingress;
pub mod install;
pub mod metrics;
pub mod ops;
pub mod secret;
pub mod server;
pub mod slack;
pub mod socket;
pub mod store;
pub mod store_error;
pub mod telemetry;
pub mod token_cipher;

pub use app::{App, AppBuilder, AppError};
pub use config::Config;
pub use domain::Services;
