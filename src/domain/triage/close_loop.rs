//! Closing the loop: when an insight becomes planned, shipped or declined, Circlet replies in
//! the captured message's thread, mentioning its author and voters, and does the same in the
//! thread of every insight merged into it.
//!
//! Each thread reply is its own inbox task, queued in the status change's transaction and keyed
//! by (change, thread), so a reply exists to be posted exactly when the change committed and is
//! queued once. Delivery is at least once, so posting goes through
//! [`SlackApi::post_message_once`] with the same key: a post whose answer was lost, or a task
//! re-run after a crash, finds the earlier reply instead of posting a second one.

use async_trait::async_trait;
use serde::Deserialize;
use slack_morphism::prelude::{SlackApiChatPostMessageRequest, SlackMessageContent};

use crate::clock::Millis;
use crate::domain::job_team;
use crate::domain::settings::LoopTexts;
use crate::domain::workspaces::Workspaces;
use crate::ids::UserId;
use crate::inbox::{HandlerError, InboxHandler, Job, NewInboxItem};
use crate::store::{Insight, InsightStatus, InsightTx, StoreResult};

/// The inbox task type of one close-the-loop reply.
pub const CLOSE_LOOP_TASK: &str = "close_loop";

/// One reply, as queued: everything is decided when the status changes, so a retry posts
/// what the change announced.
#[derive(Debug, Deserialize)]
struct ThreadReply {
    key: String,
    channel: String,
    thread_ts: String,
    text: String,
}

/// Queues the replies for status change `change_id` of `target` to `status`: one in its
/// thread and one in each thread of a (not deleted) insight merged into it. Returns how many
/// threads are told; none for a status that does not close the loop.
pub(super) async fn queue(
    tx: &mut dyn InsightTx,
    target: &Insight,
    change_id: i64,
    texts: &LoopTexts,
    status: InsightStatus,
    now: Millis,
) -> StoreResult<usize> {
    let Some(text) = loop_text(texts, status) else {
        return Ok(0);
    };
    let mut threads = vec![target.clone()];
    threads.extend(
        tx.merged_into(target.id)
            .await?
            .into_iter()
            .filter(|m| !m.deleted),
    );
    for thread in &threads {
        // Those who voted on this very message: a merged message may sit in another circle,
        // whose members should not be pulled into this one's thread.
        let voters = tx.voters_on(target.id, thread.message()).await?;
        let key = format!("close_loop:{change_id}:{}", thread.id);
        let reply = serde_json::json!({
            "key": key,
            "channel": thread.channel_id,
            // A captured thread reply (a prompt's answer) is answered in its thread.
            "thread_ts": thread.thread_ts.as_deref().unwrap_or(&thread.message_ts),
            "text": with_mentions(text, thread.author_id.as_ref(), &voters),
        });
        tx.enqueue(&NewInboxItem::task(
            target.team_id.as_str(),
            key,
            CLOSE_LOOP_TASK,
            &reply,
            now,
        ))
        .await?;
    }
    Ok(threads.len())
}

fn loop_text(texts: &LoopTexts, status: InsightStatus) -> Option<&str> {
    match status {
        InsightStatus::Planned => Some(&texts.planned),
        InsightStatus::Shipped => Some(&texts.shipped),
        InsightStatus::Declined => Some(&texts.declined),
        InsightStatus::New | InsightStatus::Reviewing => None,
    }
}

/// `text`, then a mention of the author and of each voter, once each, the author first.
fn with_mentions(text: &str, author: Option<&UserId>, voters: &[UserId]) -> String {
    let mut people: Vec<&UserId> = author.into_iter().collect();
    for voter in voters {
        if !people.contains(&voter) {
            people.push(voter);
        }
    }
    if people.is_empty() {
        return text.to_owned();
    }
    let mentions: Vec<String> = people.iter().map(|user| format!("<@{user}>")).collect();
    format!("{text}\n{}", mentions.join(" "))
}

/// Posts one queued reply, in the circle's own workspace with its own token.
pub(super) struct CloseLoopTask {
    pub(super) workspaces: std::sync::Arc<Workspaces>,
}

#[async_trait]
impl InboxHandler for CloseLoopTask {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let reply: ThreadReply = serde_json::from_str(&job.row.payload)
            .map_err(|err| HandlerError::permanent(format!("unreadable close-the-loop task: {err}")))?;
        let request = SlackApiChatPostMessageRequest::new(
            reply.channel.into(),
            SlackMessageContent::new().with_text(reply.text),
        )
        .with_thread_ts(reply.thread_ts.into());
        let slack = self.workspaces.slack(&job_team(job)?).await?;
        slack
            .post_message_once(&reply.key, request, job.is_retry())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_author_comes_first_and_nobody_twice() {
        let voters = ["U0BEN", "U0MAYA", "U0ANA"].map(|user| UserId::parse(user).unwrap());
        assert_eq!(
            with_mentions("Shipped!", Some(&voters[1]), &voters),
            "Shipped!\n<@U0MAYA> <@U0BEN> <@U0ANA>"
        );
        assert_eq!(with_mentions("Planned.", None, &[]), "Planned.");
    }

    #[test]
    fn only_planned_shipped_and_declined_close_the_loop() {
        let texts = LoopTexts::default();
        for status in InsightStatus::ALL {
            assert_eq!(
                loop_text(&texts, *status).is_some(),
                status.closes_the_loop(),
                "{status}"
            );
        }
    }
}
