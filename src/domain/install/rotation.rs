//! Rotating tokens (SLACK.md §8): an app with token rotation gets bot tokens that expire after
//! 12 hours and a refresh token that trades for a new pair once. Every [`REFRESH_EVERY`] the
//! refresher renews the installations whose token expires within [`REFRESH_AHEAD`], stores the
//! new pair in place of the old one (compare-and-swap on the old refresh token, so of two
//! replicas refreshing at once one wins and the other takes the winner's pair), and serves the
//! new token at once.
//!
//! A refresh that fails is tried again every round until the token expires; meanwhile it is
//! logged, counted, and listed in `/readyz` (which stays `200`: the other workspaces are
//! served, and no replica could do better).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Installs, millis};
use crate::clock::Millis;
use crate::ids::TeamId;
use crate::slack::SlackError;
use crate::store::{Installation, RotatedTokens, StoreError};
use crate::token_cipher::CipherError;

/// How long before a token expires it is refreshed: python-slack-sdk's default, well inside a
/// 12-hour token and leaving room for many retries.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(2 * 3600);
/// How often the refresher looks for tokens to refresh (and retries failed refreshes).
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);

/// An installation whose last refresh failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFailure {
    pub team_id: TeamId,
    /// Slack's error code, or the kind of failure (`timeout`, `connection`, `database`…).
    pub error: String,
    /// Failed attempts in a row.
    pub attempts: u32,
    pub failing_since: Millis,
    /// When the token in use stops working.
    pub expires_at: Option<Millis>,
}

/// What became of one refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The new pair is stored and served.
    Refreshed,
    /// Another replica had already rotated the pair; this process now serves that one.
    Superseded,
    /// Nothing changed; the error is named.
    Failed(String),
}

/// One round's tally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshRound {
    pub refreshed: usize,
    pub superseded: usize,
    pub failed: usize,
}

/// The refresher's state: one refresh at a time in this process, and what is failing.
#[derive(Default)]
pub(super) struct Refreshes {
    turn: tokio::sync::Mutex<()>,
    failing: Mutex<BTreeMap<TeamId, RefreshFailure>>,
}

impl Refreshes {
    fn failing(&self) -> MutexGuard<'_, BTreeMap<TeamId, RefreshFailure>> {
        self.failing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, thiserror::Error)]
enum RefreshError {
    #[error("{0}")]
    Slack(#[from] SlackError),
    #[error("{0}")]
    Cipher(#[from] CipherError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("Slack's answer did not give {0}")]
    Incomplete(&'static str),
}

impl RefreshError {
    fn label(&self) -> String {
        match self {
            RefreshError::Slack(err) => err.result_label().to_owned(),
            RefreshError::Cipher(_) => "cannot_open_token".into(),
            RefreshError::Store(_) => "database".into(),
            RefreshError::Incomplete(_) => "protocol".into(),
        }
    }
}

impl Installs {
    /// Refreshes every active installation whose token expires within [`REFRESH_AHEAD`].
    pub async fn refresh_due(&self) -> Result<RefreshRound, StoreError> {
        let _turn = self.refreshes.turn.lock().await;
        let horizon = self.clock.now_millis() + millis(REFRESH_AHEAD);
        let due: Vec<Installation> = self
            .store
            .workspaces()
            .installations()
            .await?
            .into_iter()
            .filter(|i| {
                i.is_active()
                    && i.refresh_token.is_some()
                    && i.token_expires_at.is_some_and(|at| at <= horizon)
            })
            .collect();
        let mut round = RefreshRound::default();
        for installation in &due {
            match self.refresh_one(installation).await {
                RefreshOutcome::Refreshed => round.refreshed += 1,
                RefreshOutcome::Superseded => round.superseded += 1,
                RefreshOutcome::Failed(_) => round.failed += 1,
            }
        }
        // Not due any more (refreshed by another replica) or uninstalled: not failing either.
        let attempted: HashSet<&TeamId> = due.iter().map(|i| &i.team_id).collect();
        let mut failing = self.refreshes.failing();
        failing.retain(|team, _| attempted.contains(team));
        self.metrics.set_token_refresh_failing(failing.len());
        Ok(round)
    }

    /// Refreshes one installation as read at some point (it may be stale).
    pub async fn refresh(&self, installation: &Installation) -> RefreshOutcome {
        let _turn = self.refreshes.turn.lock().await;
        self.refresh_one(installation).await
    }

    /// The installations whose last refresh failed, by team id.
    pub fn failing_refreshes(&self) -> Vec<RefreshFailure> {
        self.refreshes.failing().values().cloned().collect()
    }

    /// Runs [`Installs::refresh_due`] every `every` until `shutdown`; the first round comes
    /// `every` after start, well inside [`REFRESH_AHEAD`].
    pub async fn keep_refreshed(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(err) = self.refresh_due().await {
                        tracing::warn!(error = %err, "cannot read the installations to refresh their tokens; will retry");
                    }
                }
            }
        }
    }

    async fn refresh_one(&self, installation: &Installation) -> RefreshOutcome {
        let team = &installation.team_id;
        let outcome = match self.rotate(installation).await {
            Ok(true) => RefreshOutcome::Refreshed,
            Ok(false) => RefreshOutcome::Superseded,
            // Slack refuses a refresh token another replica has just used: its pair is stored.
            Err(_) if self.rotated_elsewhere(installation).await => RefreshOutcome::Superseded,
            Err(err) => {
                tracing::warn!(team_id = %team.as_str(), error = %err, expires_at = ?installation.token_expires_at,
                    "cannot refresh this installation's token; will retry");
                RefreshOutcome::Failed(err.label())
            }
        };
        let label = match &outcome {
            RefreshOutcome::Refreshed => "refreshed",
            RefreshOutcome::Superseded => "superseded",
            RefreshOutcome::Failed(label) => label.as_str(),
        };
        self.metrics.count_token_refresh(label);
        match &outcome {
            RefreshOutcome::Failed(error) => {
                let now = self.clock.now_millis();
                let mut failing = self.refreshes.failing();
                let entry = failing.entry(team.clone()).or_insert_with(|| RefreshFailure {
                    team_id: team.clone(),
                    error: String::new(),
                    attempts: 0,
                    failing_since: now,
                    expires_at: installation.token_expires_at,
                });
                entry.error = error.clone();
                entry.attempts += 1;
                self.metrics.set_token_refresh_failing(failing.len());
            }
            RefreshOutcome::Refreshed | RefreshOutcome::Superseded => {
                {
                    let mut failing = self.refreshes.failing();
                    failing.remove(team);
                    self.metrics.set_token_refresh_failing(failing.len());
                }
                if let Err(err) = self.workspaces.reload(team).await {
                    tracing::warn!(team_id = %team.as_str(), error = %err, "refreshed, but cannot load the new token here yet; the next reload will");
                }
                tracing::info!(team_id = %team.as_str(), outcome = label, "installation token refreshed");
            }
        }
        outcome
    }

    /// Trades the refresh token for a new pair and stores it in place of the one read; whether
    /// this replica's pair was stored.
    async fn rotate(&self, installation: &Installation) -> Result<bool, RefreshError> {
        let team = &installation.team_id;
        let cipher = &self.app.cipher;
        let used = installation
            .refresh_token
            .as_deref()
            .ok_or(RefreshError::Incomplete("a refresh token"))?;
        let refresh = cipher.open(team.as_str(), used)?;
        let grant = self.app.oauth.refresh(&refresh).await?;
        let new_refresh = grant
            .refresh_token
            .ok_or(RefreshError::Incomplete("a new refresh token"))?;
        let lifetime = grant
            .expires_in
            .ok_or(RefreshError::Incomplete("the new token's lifetime"))?;
        let now = self.clock.now_millis();
        let tokens = RotatedTokens {
            bot_token: cipher.seal(team.as_str(), &grant.access_token),
            refresh_token: cipher.seal(team.as_str(), &new_refresh),
            expires_at: now + millis(lifetime),
        };
        Ok(self
            .store
            .workspaces()
            .replace_tokens(team, used, &tokens, now)
            .await?)
    }

    /// Whether the stored refresh token is no longer the one `installation` was read with.
    async fn rotated_elsewhere(&self, installation: &Installation) -> bool {
        match self.store.workspaces().installation(&installation.team_id).await {
            Ok(Some(now)) => now.is_active() && now.refresh_token != installation.refresh_token,
            _ => false,
        }
    }
}
