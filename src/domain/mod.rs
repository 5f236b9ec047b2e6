//! Domain services. They know Slack's data but not HTTP, and are handed what they need
//! ([`Services`], [`settings::DomainSettings`]): they never read the configuration or the wiring.

pub mod access;
pub mod bot;
pub mod capture;
pub mod circles;
pub mod digest;
pub mod directory;
pub mod export;
pub mod feedback_command;
pub mod home;
pub mod installed;
pub mod modal;
pub mod reports;
mod services;
pub mod settings;
pub mod slash;
pub mod tokens;
pub mod triage;

pub use services::Services;

#[cfg(test)]
mod feedback_props;
