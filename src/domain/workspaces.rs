//! Which workspaces this Circlet serves, and how to call Slack for each (ARCHITECTURE §9).
//!
//! - **Single-workspace mode** (`SLACK_BOT_TOKEN`): exactly the workspace the token belongs to,
//!   as `auth.test` reports it (asked once, then cached). Without any token every workspace is
//!   accepted and nothing can call Slack: that is for local runs and load tests only.
//! - **Multi-workspace mode** ("Add to Slack"): every active installation, each calling Slack
//!   with its own token. The installations are read from the database at start and kept in
//!   memory, so admitting a request or finding a token costs no query; a workspace this process
//!   has not seen yet (installed through another replica) is looked up once by a worker, never
//!   on the request path, and every replica re-reads the list every [`RELOAD_EVERY`].
//!
//! Requests and queued rows for a workspace that is not served are dropped: events and
//! interactions are acknowledged and ignored, commands get [`REFUSAL`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Millis;
use crate::domain::bot::BotIdentity;
use crate::ids::TeamId;
use crate::inbox::{HandlerError, TeamGate};
use crate::slack::{SlackApi, SlackError};
use crate::store::{Installation, SharedStore, StoreError};
use crate::token_cipher::TokenCipher;

/// What a slash command from a workspace Circlet does not serve is told.
pub const REFUSAL: &str = "Circlet is not installed in this workspace, so it can't help here.";

/// How often each replica re-reads the installations, so one installed, uninstalled or
/// refreshed through another replica is seen here too.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);

/// What [`Workspaces::load`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Active installations now served.
    pub served: usize,
    /// Active installations whose token does not open with the configured key.
    pub unopened: usize,
}

/// One served workspace: its own token's client and its bot.
pub struct Workspace {
    /// None in single-workspace mode, where the bot's `auth.test` tells it.
    pub team_id: Option<TeamId>,
    /// Set when linked: reports, exports and the digest of the home workspace include this one.
    pub home: Option<TeamId>,
    slack: SlackApi,
    bot: Arc<BotIdentity>,
}

impl Workspace {
    /// A client calling with this workspace's own token.
    pub fn slack(&self) -> &SlackApi {
        &self.slack
    }

    /// Circlet's bot user here, learned from `auth.test` with this workspace's token.
    pub fn bot(&self) -> &Arc<BotIdentity> {
        &self.bot
    }
}

enum Mode {
    Single(Arc<Workspace>),
    Multi {
        store: SharedStore,
        cipher: TokenCipher,
        known: RwLock<Known>,
    },
}

/// What this process knows of the installations.
#[derive(Default)]
struct Known {
    active: HashMap<TeamId, Arc<Workspace>>,
    /// Uninstalled ones: their late requests are refused without a lookup.
    gone: HashSet<TeamId>,
}

pub struct Workspaces {
    /// The shared client without a token (multi) or with the configured one (single).
    slack: SlackApi,
    mode: Mode,
}

impl Workspaces {
    /// Single-workspace mode: `slack` carries `SLACK_BOT_TOKEN` (or none, for local runs).
    pub fn single(slack: SlackApi) -> Self {
        let bot = Arc::new(BotIdentity::new(slack.clone()));
        let workspace = Workspace {
            team_id: None,
            home: None,
            slack: slack.clone(),
            bot,
        };
        Self {
            slack,
            mode: Mode::Single(Arc::new(workspace)),
        }
    }

    /// Multi-workspace mode over the installations in `store`; call [`Workspaces::load`]
    /// before serving.
    pub fn multi(slack: SlackApi, store: SharedStore, cipher: TokenCipher) -> Self {
        Self {
            slack,
            mode: Mode::Multi {
                store,
                cipher,
                known: RwLock::default(),
            },
        }
    }

    pub fn is_multi(&self) -> bool {
        matches!(self.mode, Mode::Multi { .. })
    }

    /// The shared client, for what needs no workspace's token (answering a `response_url`).
    pub fn responder(&self) -> &SlackApi {
        &self.slack
    }

    /// The bot of single-workspace mode (None in multi-workspace mode).
    pub fn single_bot(&self) -> Option<&Arc<BotIdentity>> {
        match &self.mode {
            Mode::Single(workspace) => Some(&workspace.bot),
            Mode::Multi { .. } => None,
        }
    }

    /// Reads every active installation (multi-workspace mode), replacing what was known.
    pub async fn load(&self) -> Result<Loaded, StoreError> {
        let Mode::Multi { store, cipher, known } = &self.mode else {
            return Ok(Loaded {
                served: 1,
                unopened: 0,
            });
        };
        let mut unopened = 0;
        let installations = store.workspaces().installations().await?;
        let mut loaded = Known::default();
        for installation in installations {
            let team = installation.team_id.clone();
            match installation
                .is_active()
                .then(|| self.open(cipher, &installation))
                .flatten()
            {
                Some(workspace) => {
                    loaded.active.insert(team, Arc::new(workspace));
                }
                None => {
                    unopened += usize::from(installation.is_active());
                    loaded.gone.insert(team);
                }
            }
        }
        let count = Loaded {
            served: loaded.active.len(),
            unopened,
        };
        let mut known = known.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A workspace known before keeps its bot (and what auth.test told it) while its token
        // and link stay the same.
        for (team, workspace) in loaded.active.iter_mut() {
            if let Some(before) = known.active.get(team)
                && before.slack.same_token(&workspace.slack)
                && before.home == workspace.home
            {
                *workspace = before.clone();
            }
        }
        *known = loaded;
        Ok(count)
    }

    /// Reads one installation again (after installing, a refresh, or when a worker meets a
    /// workspace this process has not seen).
    pub async fn reload(&self, team: &TeamId) -> Result<Option<Arc<Workspace>>, StoreError> {
        let Mode::Multi { store, cipher, known } = &self.mode else {
            return Ok(None);
        };
        let installation = store.workspaces().installation(team).await?;
        let installed = installation.is_some();
        let workspace = installation
            .filter(Installation::is_active)
            .and_then(|installation| self.open(cipher, &installation))
            .map(Arc::new);
        let mut known = known.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &workspace {
            Some(workspace) => {
                known.gone.remove(team);
                known.active.insert(team.clone(), workspace.clone());
            }
            None => {
                known.active.remove(team);
                if installed {
                    known.gone.insert(team.clone());
                }
            }
        }
        Ok(workspace)
    }

    /// Marks the workspace uninstalled, here at once and in the database (its queued work is
    /// dropped there): no call is made with its token from now on.
    pub async fn uninstalled(&self, team: &TeamId, at: Millis) -> Result<bool, StoreError> {
        match &self.mode {
            Mode::Single(_) => Ok(false),
            Mode::Multi { store, known, .. } => {
                {
                    let mut known = known.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                    known.active.remove(team);
                    known.gone.insert(team.clone());
                }
                store.workspaces().mark_uninstalled(team, at).await
            }
        }
    }

    /// The served workspace `team`, with its own token.
    pub async fn get(&self, team: &TeamId) -> Result<Arc<Workspace>, SlackError> {
        match &self.mode {
            Mode::Single(workspace) => Ok(workspace.clone()),
            Mode::Multi { .. } => {
                if let Some(workspace) = self.known(team) {
                    return Ok(workspace);
                }
                if self.is_gone(team) {
                    return Err(SlackError::NotInstalled {
                        team_id: team.as_str().to_owned(),
                    });
                }
                match self.reload(team).await {
                    Ok(Some(workspace)) => Ok(workspace),
                    Ok(None) => Err(SlackError::NotInstalled {
                        team_id: team.as_str().to_owned(),
                    }),
                    Err(err) => Err(SlackError::Unavailable {
                        method: "installations",
                        detail: err.to_string(),
                    }),
                }
            }
        }
    }

    /// The client for `team`'s own token.
    pub async fn slack(&self, team: &TeamId) -> Result<SlackApi, SlackError> {
        Ok(self.get(team).await?.slack.clone())
    }

    /// The workspaces linked to `home` (their circles count in its reports), `home` first.
    pub fn with_linked(&self, home: &TeamId) -> Vec<TeamId> {
        let mut teams = vec![home.clone()];
        if let Mode::Multi { known, .. } = &self.mode {
            let known = known.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut linked: Vec<TeamId> = known
                .active
                .values()
                .filter(|workspace| workspace.home.as_ref() == Some(home))
                .filter_map(|workspace| workspace.team_id.clone())
                .collect();
            linked.sort();
            teams.extend(linked);
        }
        teams
    }

    /// Every workspace served now (multi-workspace mode), by team id.
    pub fn active(&self) -> Vec<Arc<Workspace>> {
        match &self.mode {
            Mode::Single(workspace) => vec![workspace.clone()],
            Mode::Multi { known, .. } => {
                let known = known.read().unwrap_or_else(|poisoned| poisoned.into_inner());
                let mut all: Vec<_> = known.active.values().cloned().collect();
                all.sort_by(|a, b| a.team_id.cmp(&b.team_id));
                all
            }
        }
    }

    fn known(&self, team: &TeamId) -> Option<Arc<Workspace>> {
        match &self.mode {
            Mode::Single(workspace) => Some(workspace.clone()),
            Mode::Multi { known, .. } => known
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .active
                .get(team)
                .cloned(),
        }
    }

    /// Whether `team` is known to be uninstalled (multi-workspace mode).
    fn is_gone(&self, team: &TeamId) -> bool {
        match &self.mode {
            Mode::Single(_) => false,
            Mode::Multi { known, .. } => known
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .gone
                .contains(team),
        }
    }

    fn open(&self, cipher: &TokenCipher, installation: &Installation) -> Option<Workspace> {
        let team = &installation.team_id;
        match cipher.open(team.as_str(), &installation.bot_token) {
            Ok(token) => {
                let slack = self.slack.with_token(&token);
                Some(Workspace {
                    team_id: Some(team.clone()),
                    home: installation.home_team_id.clone(),
                    bot: Arc::new(BotIdentity::new(slack.clone())),
                    slack,
                })
            }
            Err(err) => {
                tracing::error!(team_id = %team.as_str(), error = %err, "cannot open this installation's token; its workspace is not served");
                None
            }
        }
    }

    /// Re-reads the installations every [`RELOAD_EVERY`] until `shutdown`.
    pub async fn keep_loaded(self: Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        if !self.is_multi() {
            return;
        }
        let mut every = tokio::time::interval(RELOAD_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {
                    if let Err(err) = self.load().await {
                        tracing::warn!(error = %err, "cannot re-read the installations; will retry");
                    }
                }
            }
        }
    }
}

#[async_trait]
impl TeamGate for Workspaces {
    fn admits_now(&self, team_id: &str) -> Option<bool> {
        match &self.mode {
            Mode::Single(workspace) => {
                if !workspace.bot.has_token() {
                    return Some(true);
                }
                workspace
                    .bot
                    .known()
                    .map(|identity| identity.installation() == team_id)
            }
            // A workspace this replica has not seen may have been installed through another:
            // a worker looks it up, the request path does not.
            Mode::Multi { .. } => {
                let Ok(team) = TeamId::parse(team_id) else {
                    return Some(false);
                };
                if self.is_gone(&team) {
                    return Some(false);
                }
                self.known(&team).map(|_| true)
            }
        }
    }

    async fn admits(&self, team_id: &str) -> Result<bool, HandlerError> {
        if let Some(verdict) = self.admits_now(team_id) {
            return Ok(verdict);
        }
        match &self.mode {
            Mode::Single(workspace) => {
                let identity = workspace.bot.identity().await?;
                Ok(identity.installation() == team_id)
            }
            Mode::Multi { .. } => {
                let Ok(team) = TeamId::parse(team_id) else {
                    return Ok(false);
                };
                Ok(self.reload(&team).await?.is_some())
            }
        }
    }
}
