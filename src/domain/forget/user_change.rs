//! Slack's `user_change` for a member Slack itself forgot (`is_forgotten: true`, after an
//! admin's "forget user" or a deletion request): Circlet forgets them too, by itself. Other
//! profile changes are ignored. A deactivation alone (`deleted: true`) is not a request to
//! forget: every member who leaves a company is deactivated, and their feedback stays theirs.

use async_trait::async_trait;
use serde::Deserialize;

use super::Forgetting;
use crate::domain::job_team;
use crate::ids::UserId;
use crate::inbox::{HandlerError, InboxHandler, Job};
use crate::store::forget::PSEUDONYM_SLOT;

pub const USER_CHANGE: &str = "user_change";

#[derive(Deserialize)]
struct Envelope {
    event: Event,
}

/// `user` is absent once the row was rewritten after a forget.
#[derive(Deserialize)]
struct Event {
    user: Option<User>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    is_forgotten: bool,
    #[serde(default)]
    profile: Profile,
}

/// Slack has put the flag on the profile too.
#[derive(Deserialize, Default)]
struct Profile {
    #[serde(default)]
    is_forgotten: bool,
}

pub(super) struct UserChange(pub(super) Forgetting);

#[async_trait]
impl InboxHandler for UserChange {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("unreadable user_change: {err}")))?;
        let Some(user) = envelope.event.user else {
            return Ok(());
        };
        if !(user.is_forgotten || user.profile.is_forgotten) {
            return Ok(());
        }
        let member =
            UserId::parse(user.id).map_err(|err| HandlerError::permanent(format!("user_change: {err}")))?;
        let team = job_team(job)?;
        // The event carries the member's whole profile: it keeps only the pseudonym.
        let stub = serde_json::json!({"event": {"type": USER_CHANGE, "forgotten": PSEUDONYM_SLOT}});
        self.0
            .forget(&team, &member, Some((job.row.id, stub.to_string())))
            .await?;
        Ok(())
    }
}
