//! What `serve` runs beside the listeners: the store's upkeep and, in single-workspace mode,
//! learning which workspace the bot token serves.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::domain::workspaces::Workspaces;
use crate::store::SharedStore;

/// How long circle messages stay in the capture cache: a reaction on an older message costs
/// one `conversations.history` call instead.
pub const MESSAGE_CACHE_RETENTION: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3600);
const MESSAGE_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs the store's upkeep every second until shutdown (and prunes the message cache every ten
/// minutes); a failure is logged and retried.
pub(super) async fn maintain_store(store: SharedStore, clock: SharedClock, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {
                if let Err(err) = store.maintain().await {
                    tracing::warn!(error = %err, "store maintenance failed; will retry");
                }
                if last_prune.is_none_or(|at| at.elapsed() >= MESSAGE_PRUNE_EVERY) {
                    last_prune = Some(std::time::Instant::now());
                    let before = clock.now_millis() - MESSAGE_CACHE_RETENTION.as_millis() as i64;
                    match store.prune_messages(before).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(messages = n, "pruned the message cache"),
                        Err(err) => tracing::warn!(error = %err, "pruning the message cache failed"),
                    }
                    match store.prune_reactions(before).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(reactions = n, "pruned reactions no insight or cached message needs"),
                        Err(err) => tracing::warn!(error = %err, "pruning reactions failed"),
                    }
                }
            }
        }
    }
}

/// In single-workspace mode, asks Slack who the bot is (and so which workspace it serves)
/// until it answers, so ingress can refuse other workspaces' requests without waiting; workers
/// ask on their own if a row comes first.
pub(super) async fn learn_identity(workspaces: Arc<Workspaces>, shutdown: CancellationToken) {
    let Some(bot) = workspaces.single_bot() else {
        return;
    };
    if !bot.has_token() {
        return;
    }
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        match bot.identity().await {
            Ok(identity) => {
                tracing::info!(team_id = %identity.team_id, installation = %identity.installation(),
                    bot_user = %identity.user_id, "serving this workspace only");
                return;
            }
            Err(err) => tracing::warn!(error = %err, "cannot learn the installed workspace yet; will retry"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(std::time::Duration::from_secs(60));
    }
}
