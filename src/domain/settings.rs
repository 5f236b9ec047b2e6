//! The configuration domain services read (from [`Config`](crate::config::Config)).

use crate::config::{Config, LoopTexts, Secret};

#[derive(Debug, Clone)]
pub struct DomainSettings {
    /// The reaction Circlet adds to a message it captured.
    pub ack_emoji: String,
    /// What a close-the-loop reply says per status.
    pub loop_texts: LoopTexts,
    /// Signs what Circlet hands Slack to give back later (a modal's `private_metadata`).
    pub signing_key: Secret,
}

impl DomainSettings {
    pub fn from_config(config: &Config, signing_key: Secret) -> Self {
        Self {
            ack_emoji: config.ack_emoji.clone(),
            loop_texts: config.loop_texts.clone(),
            signing_key,
        }
    }
}
