//! The parts of a `block_actions` payload (a button click) Circlet reads. Every service that
//! renders buttons sees every click (`HandlerRegistry::register_also`) and acts on its own
//! action ids only.

use serde::Deserialize;

use crate::ids::UserId;
use crate::inbox::{HandlerError, Job};

#[derive(Deserialize)]
pub struct BlockActions {
    user: Clicker,
    pub response_url: Option<String>,
    #[serde(default)]
    pub actions: Vec<Action>,
}

#[derive(Deserialize)]
struct Clicker {
    id: String,
}

#[derive(Deserialize)]
pub struct Action {
    pub action_id: String,
    pub value: Option<String>,
}

impl BlockActions {
    pub fn read(job: &Job) -> Result<Self, HandlerError> {
        serde_json::from_str(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("unreadable block_actions: {err}")))
    }

    /// The member who clicked, as Slack signed it: never a button's value.
    pub fn user(&self) -> Result<UserId, HandlerError> {
        UserId::parse(self.user.id.as_str())
            .map_err(|err| HandlerError::permanent(format!("block_actions: {err}")))
    }
}
