//! What the domain services can be configured with. `config` reads these from the environment
//! and builds them; domain never reads the configuration itself.

use crate::domain::digest::Schedule;
use crate::secret::Secret;

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
    /// How long insights and uninstalled workspaces' data are kept.
    pub retention: Retention,
}

/// How long data is kept (ARCHITECTURE §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Insights whose message is older than this many days are deleted with everything
    /// attached; None: kept.
    pub insight_days: Option<u32>,
    /// An uninstalled workspace's rows are purged this many days after; 0: at once.
    pub uninstall_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            insight_days: None,
            uninstall_days: 30,
        }
    }
}

/// What Circlet says in a captured message's thread when its status changes (close the loop).
/// The author and voters are mentioned after the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopTexts {
    pub planned: String,
    pub shipped: String,
    pub declined: String,
}

impl Default for LoopTexts {
    fn default() -> Self {
        Self {
            planned: "Good news: this is now planned. Thank you for the idea!".into(),
            shipped: "This has shipped! :tada: Thank you for the feedback that made it happen.".into(),
            declined: "We've decided not to do this for now. Thank you for sharing it; it helped us decide."
                .into(),
        }
    }
}

/// What a circle with nothing to recap gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuietWeek {
    /// A short "quiet week" recap.
    #[default]
    Post,
    /// Nothing.
    Skip,
}

/// Who may run product-team commands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProductUsers {
    #[default]
    AdminsOnly,
    Users(Vec<String>),
    UserGroup(String),
}

impl ProductUsers {
    /// Reads Slack user ids (comma-separated) or one user-group id (`S…`); an empty list is
    /// admins only. None when the text is neither.
    pub fn parse(raw: &str) -> Option<Self> {
        let ids: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let is_id = |s: &str, first: &[char]| {
            s.len() >= 2
                && s.starts_with(first)
                && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        };
        match ids.as_slice() {
            [] => Some(ProductUsers::AdminsOnly),
            [group] if is_id(group, &['S']) => Some(ProductUsers::UserGroup(group.clone())),
            users if users.iter().all(|u| is_id(u, &['U', 'W'])) => Some(ProductUsers::Users(ids)),
            _ => None,
        }
    }

    /// The text [`ProductUsers::parse`] reads back.
    pub fn to_setting(&self) -> String {
        match self {
            ProductUsers::AdminsOnly => String::new(),
            ProductUsers::Users(users) => users.join(","),
            ProductUsers::UserGroup(group) => group.clone(),
        }
    }
}
