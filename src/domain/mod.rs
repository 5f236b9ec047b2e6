//! Domain services. They know Slack's data but not HTTP.

pub mod feedback_command;
