//! The configuration domain services read (from [`Config`](crate::config::Config)).

use crate::config::{Config, LoopTexts, QuietWeek, Secret};
use crate::domain::digest::Schedule;

#[derive(Debug, Clone)]
pub struct DomainSettings {
    /// The reaction Circlet adds to a message it captured.
    pub ack_emoji: String,
    /// What a close-the-loop reply says per status.
    pub loop_texts: LoopTexts,
    /// Signs what Circlet hands Slack to give back later (a modal's `private_metadata`).
    pub signing_key: Secret,
    /// Where the product team's weekly digest goes (none: no digest).
    pub digest_channel: Option<String>,
    /// When digests, recaps and prompts go out.
    pub schedule: Schedule,
    /// What a circle with nothing to recap gets.
    pub quiet_week: QuietWeek,
}

impl DomainSettings {
    pub fn from_config(config: &Config, signing_key: Secret) -> Self {
        Self {
            ack_emoji: config.ack_emoji.clone(),
            loop_texts: config.loop_texts.clone(),
            signing_key,
            digest_channel: config.digest_channel.clone(),
            schedule: config.digest_schedule,
            quiet_week: config.quiet_week,
        }
    }
}
