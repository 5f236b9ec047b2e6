//! The daily privacy run as inbox work: each replica asks for the day's run at start and every
//! [`CHECK_EVERY`] under a key shared by every replica for that UTC day, so the inbox keeps one
//! run per day and one worker does it. The run belongs to no single workspace (it purges ones
//! no longer installed), so it is queued under [`EVERY_WORKSPACE`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Privacy;
use crate::clock::Millis;
use crate::inbox::{EVERY_WORKSPACE, HandlerError, InboxHandler, Job, NewInboxItem};
use crate::store::{self, Store, StoreError, day_of};

/// The inbox task of the daily privacy run.
pub const PRIVACY_TASK: &str = "privacy_run";

/// How often each replica makes sure today's run is queued: a day's key makes the extra asks
/// free, and a replica that runs across midnight starts the next day's run within this.
pub const CHECK_EVERY: Duration = Duration::from_secs(3600);

pub struct PrivacyHandler {
    pub privacy: Arc<Privacy>,
}

#[async_trait]
impl InboxHandler for PrivacyHandler {
    async fn handle(&self, _job: &Job) -> Result<(), HandlerError> {
        let run = self.privacy.run().await?;
        tracing::info!(
            insights = run.insights_deleted,
            workspaces = run.workspaces_purged,
            "privacy run done"
        );
        Ok(())
    }
}

/// Queues the run of `now`'s UTC day, unless it is queued already.
pub async fn queue_run(store: &dyn Store, now: Millis) -> Result<(), StoreError> {
    let day = day_of(now);
    let task = NewInboxItem::task(
        EVERY_WORKSPACE,
        format!("privacy:{day}"),
        PRIVACY_TASK,
        &json!({ "day": day }),
        now,
    );
    store::transaction(store, move |tx| {
        Box::pin(async move { tx.enqueue(&task).await.map(drop) })
    })
    .await
}

/// At start, cancels a purge a reinstall made moot (single-workspace mode), then queues the
/// day's run now and every [`CHECK_EVERY`] until shutdown.
pub async fn keep_private(privacy: Arc<Privacy>, shutdown: CancellationToken) {
    if let Err(err) = privacy.cancel_if_reinstalled().await {
        tracing::warn!(error = %err, "could not tell whether the bot token works again; a pending purge stays");
    }
    loop {
        if let Err(err) = queue_run(privacy.store.as_ref(), privacy.clock.now_millis()).await {
            tracing::warn!(error = %err, "could not queue the privacy run; trying again within the hour");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}
