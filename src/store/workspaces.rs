//! Workspaces in multi-workspace mode: installations (their tokens sealed by the caller, never
//! seen here in clear), links between workspaces, settings set from Slack, and "Add to Slack"
//! states. Written once over an engine's runner.

use std::sync::Arc;

use async_trait::async_trait;

use super::StoreResult;
use super::runner::{RunStatement, Runner};
use super::sql::{Columns, Executor, FromRow, Row, Statement, Value};
use crate::clock::Millis;
use crate::ids::{ChannelId, TeamId, UserId};

/// One installation of Circlet: a workspace, or an organization for an org-wide install. The
/// tokens are sealed text (`crate::token_cipher`); the store never holds them in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installation {
    /// The key every table uses: the workspace's team id, or the enterprise id of an org-wide
    /// install.
    pub team_id: TeamId,
    pub team_name: Option<String>,
    /// Read leniently (see [`super::sql::Lenient`]): stored as the grant said, unchecked.
    pub enterprise_id: Option<TeamId>,
    pub is_enterprise_install: bool,
    pub app_id: String,
    pub bot_user_id: UserId,
    /// The bot scopes granted, comma-separated as Slack sends them.
    pub scopes: String,
    /// Read leniently (see [`super::sql::Lenient`]): stored as the grant said, unchecked.
    pub installer_user_id: Option<UserId>,
    pub bot_token: String,
    pub refresh_token: Option<String>,
    pub token_expires_at: Option<Millis>,
    pub installed_at: Millis,
    pub updated_at: Millis,
    pub uninstalled_at: Option<Millis>,
    /// Set when linked: this workspace's circles count in the home workspace's reports,
    /// exports and digest.
    pub home_team_id: Option<TeamId>,
}

impl Installation {
    pub fn is_active(&self) -> bool {
        self.uninstalled_at.is_none()
    }
}

/// What product users and admins set for their workspace from Slack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceSettings {
    /// User ids (comma-separated) or one user-group id, as `CIRCLET_PRODUCT_USERS` takes them.
    pub product_users: Option<String>,
    pub digest_channel: Option<ChannelId>,
}

/// A setting being changed, and by whom.
#[derive(Debug, Clone, Copy)]
pub enum SettingChange<'a> {
    ProductUsers(Option<&'a str>),
    DigestChannel(Option<&'a ChannelId>),
}

/// How many rows of a removed workspace each table held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    pub tables: Vec<(&'static str, u64)>,
}

impl Purged {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }
}

#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Stores an installation; installing again updates every field but the link, and makes
    /// an uninstalled workspace active again.
    async fn save_installation(&self, installation: &Installation) -> StoreResult<()>;

    /// Every installation, uninstalled ones included, by team id.
    async fn installations(&self) -> StoreResult<Vec<Installation>>;

    async fn installation(&self, team_id: &TeamId) -> StoreResult<Option<Installation>>;

    /// Replaces a rotating token pair, provided the refresh token is still `used_refresh`: of
    /// two replicas refreshing at once, one wins and the other reloads. Whether it replaced.
    async fn replace_tokens(
        &self,
        team_id: &TeamId,
        used_refresh: &str,
        tokens: &RotatedTokens,
        at: Millis,
    ) -> StoreResult<bool>;

    /// Marks the installation uninstalled and drops its queued inbox work, in one transaction.
    /// Whether it was active.
    async fn mark_uninstalled(&self, team_id: &TeamId, at: Millis) -> StoreResult<bool>;

    /// Links `source` to `home` (or unlinks it with None). Whether `source` is installed.
    async fn set_home(&self, source: &TeamId, home: Option<&TeamId>, at: Millis) -> StoreResult<bool>;

    /// Deletes every row of the workspace, in every table, in one transaction.
    async fn purge_workspace(&self, team_id: &TeamId) -> StoreResult<Purged>;

    async fn settings(&self, team_id: &TeamId) -> StoreResult<WorkspaceSettings>;

    async fn change_setting(
        &self,
        team_id: &TeamId,
        change: SettingChange<'_>,
        by: &UserId,
        at: Millis,
    ) -> StoreResult<()>;

    /// Keeps an "Add to Slack" state (its hash) until `expires_at`; drops expired ones.
    async fn put_oauth_state(&self, state_hash: &str, expires_at: Millis, now: Millis) -> StoreResult<()>;

    /// Uses up a state: whether it existed and had not expired. A second take finds nothing.
    async fn take_oauth_state(&self, state_hash: &str, now: Millis) -> StoreResult<bool>;
}

/// A refreshed token pair, sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatedTokens {
    pub bot_token: String,
    pub refresh_token: String,
    pub expires_at: Millis,
}

/// Every table a workspace's rows live in, by the column that names the workspace; the
/// children of `insights` are listed before it. A schema test fails when a table with a
/// workspace or insight column is missing here.
pub(super) const WORKSPACE_TABLES: &[(&str, &str)] = &[
    (
        "insight_revisions",
        "insight_id IN (SELECT id FROM insights WHERE team_id = $1)",
    ),
    (
        "insight_tags",
        "insight_id IN (SELECT id FROM insights WHERE team_id = $1)",
    ),
    (
        "insight_sources",
        "insight_id IN (SELECT id FROM insights WHERE team_id = $1)",
    ),
    (
        "votes",
        "insight_id IN (SELECT id FROM insights WHERE team_id = $1)",
    ),
    (
        "replies",
        "insight_id IN (SELECT id FROM insights WHERE team_id = $1)",
    ),
    (
        "status_changes",
        "insight_id IN (SELECT id FROM insights WHERE team_id = $1)",
    ),
    ("insight_days", "team_id = $1"),
    ("insights", "team_id = $1"),
    ("insight_numbers", "team_id = $1"),
    ("messages", "team_id = $1"),
    ("reactions", "team_id = $1"),
    ("circles", "team_id = $1"),
    ("circle_members", "team_id = $1"),
    ("member_activity", "team_id = $1"),
    ("people", "team_id = $1"),
    ("forgotten_members", "team_id = $1"),
    ("privacy_keys", "team_id = $1"),
    ("workspaces", "team_id = $1"),
    ("emoji_tags", "team_id = $1"),
    ("rules", "team_id = $1"),
    ("prompt_posts", "team_id = $1"),
    ("prompts", "team_id = $1"),
    ("scheduled_posts", "team_id = $1"),
    ("sweep_marks", "team_id = $1"),
    ("uninstalls", "team_id = $1"),
    ("api_tokens", "team_id = $1"),
    ("inbox", "team_id = $1"),
    ("workspace_settings", "team_id = $1"),
    ("installations", "team_id = $1"),
];

/// The tables [`WorkspaceStore::purge_workspace`] deletes from, in order.
pub fn purged_tables() -> impl Iterator<Item = &'static str> {
    WORKSPACE_TABLES.iter().map(|(table, _)| *table)
}

/// Deletes every row of the workspace in every table, in the caller's transaction.
pub(super) async fn delete_workspace_rows<C: Executor>(c: &mut C, team: &TeamId) -> StoreResult<Purged> {
    let mut purged = Purged::default();
    for (table, condition) in WORKSPACE_TABLES {
        let statement = Statement::new(format!("DELETE FROM {table} WHERE {condition}")).bind(team);
        purged.tables.push((table, c.execute(&statement).await?));
    }
    // Links into the removed workspace go with it.
    c.execute(
        &Statement::new("UPDATE installations SET home_team_id = NULL WHERE home_team_id = $1").bind(team),
    )
    .await?;
    Ok(purged)
}

const INSTALLATION_COLUMNS: &str = "team_id, team_name, enterprise_id, is_enterprise_install, app_id, bot_user_id, \
     scopes, installer_user_id, bot_token, refresh_token, token_expires_at, installed_at, updated_at, \
     uninstalled_at, home_team_id";

impl FromRow for Installation {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(Installation {
            team_id: c.take()?,
            team_name: c.take()?,
            enterprise_id: c.lenient()?,
            is_enterprise_install: c.take()?,
            app_id: c.take()?,
            bot_user_id: c.take()?,
            scopes: c.take()?,
            installer_user_id: c.lenient()?,
            bot_token: c.take()?,
            refresh_token: c.take()?,
            token_expires_at: c.take()?,
            installed_at: c.take()?,
            updated_at: c.take()?,
            uninstalled_at: c.take()?,
            home_team_id: c.take()?,
        })
    }
}

impl FromRow for WorkspaceSettings {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(WorkspaceSettings {
            product_users: c.take()?,
            digest_channel: c.take()?,
        })
    }
}

/// [`WorkspaceStore`] over an engine's runner.
pub(super) struct SqlWorkspaces<R> {
    runner: Arc<R>,
}

impl<R> SqlWorkspaces<R> {
    pub(super) fn new(runner: Arc<R>) -> Self {
        Self { runner }
    }
}

#[async_trait]
impl<R: Runner> WorkspaceStore for SqlWorkspaces<R> {
    async fn save_installation(&self, i: &Installation) -> StoreResult<()> {
        let statement = Statement::new(format!(
            "INSERT INTO installations ({INSTALLATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL) \
             ON CONFLICT (team_id) DO UPDATE SET team_name = excluded.team_name, \
             enterprise_id = excluded.enterprise_id, is_enterprise_install = excluded.is_enterprise_install, \
             app_id = excluded.app_id, bot_user_id = excluded.bot_user_id, scopes = excluded.scopes, \
             installer_user_id = excluded.installer_user_id, bot_token = excluded.bot_token, \
             refresh_token = excluded.refresh_token, token_expires_at = excluded.token_expires_at, \
             installed_at = excluded.installed_at, updated_at = excluded.updated_at, uninstalled_at = NULL"
        ))
        .bind(&i.team_id)
        .bind(i.team_name.as_deref())
        .bind(i.enterprise_id.as_ref())
        .bind(i.is_enterprise_install)
        .bind(i.app_id.as_str())
        .bind(&i.bot_user_id)
        .bind(i.scopes.as_str())
        .bind(i.installer_user_id.as_ref())
        .bind(i.bot_token.as_str())
        .bind(i.refresh_token.as_deref())
        .bind(i.token_expires_at)
        .bind(i.installed_at)
        .bind(i.updated_at);
        self.runner.write_execute(statement).await.map(drop)
    }

    async fn installations(&self) -> StoreResult<Vec<Installation>> {
        let statement = Statement::new(format!(
            "SELECT {INSTALLATION_COLUMNS} FROM installations ORDER BY team_id"
        ));
        self.runner.read_all(statement).await
    }

    async fn installation(&self, team_id: &TeamId) -> StoreResult<Option<Installation>> {
        let statement = Statement::new(format!(
            "SELECT {INSTALLATION_COLUMNS} FROM installations WHERE team_id = $1"
        ))
        .bind(team_id);
        self.runner.read_optional(statement).await
    }

    async fn replace_tokens(
        &self,
        team_id: &TeamId,
        used_refresh: &str,
        tokens: &RotatedTokens,
        at: Millis,
    ) -> StoreResult<bool> {
        let statement = Statement::new(
            "UPDATE installations SET bot_token = $3, refresh_token = $4, token_expires_at = $5, updated_at = $6 \
             WHERE team_id = $1 AND refresh_token = $2",
        )
        .bind(team_id)
        .bind(used_refresh)
        .bind(tokens.bot_token.as_str())
        .bind(tokens.refresh_token.as_str())
        .bind(tokens.expires_at)
        .bind(at);
        Ok(self.runner.write_execute(statement).await? > 0)
    }

    async fn mark_uninstalled(&self, team_id: &TeamId, at: Millis) -> StoreResult<bool> {
        let team = team_id.clone();
        self.runner
            .write(move |c| {
                Box::pin(async move {
                    let marked = c
                        .execute(
                            &Statement::new(
                                "UPDATE installations SET uninstalled_at = $2, updated_at = $2 \
                                 WHERE team_id = $1 AND uninstalled_at IS NULL",
                            )
                            .bind(&team)
                            .bind(at),
                        )
                        .await?;
                    // Queued work would only call Slack with a dead token; the rows stay, dead,
                    // for the operator to see until the workspace is purged.
                    c.execute(
                        &Statement::new(
                            "UPDATE inbox SET state = 'dead', finished_at = $2, claim_token = NULL, \
                             last_error = 'workspace uninstalled' \
                             WHERE team_id = $1 AND state IN ('pending', 'running')",
                        )
                        .bind(&team)
                        .bind(at),
                    )
                    .await?;
                    Ok(marked > 0)
                })
            })
            .await
    }

    async fn set_home(&self, source: &TeamId, home: Option<&TeamId>, at: Millis) -> StoreResult<bool> {
        let statement =
            Statement::new("UPDATE installations SET home_team_id = $2, updated_at = $3 WHERE team_id = $1")
                .bind(source)
                .bind(home)
                .bind(at);
        Ok(self.runner.write_execute(statement).await? > 0)
    }

    async fn purge_workspace(&self, team_id: &TeamId) -> StoreResult<Purged> {
        let team = team_id.clone();
        self.runner
            .write(move |c| Box::pin(async move { delete_workspace_rows(c, &team).await }))
            .await
    }

    async fn settings(&self, team_id: &TeamId) -> StoreResult<WorkspaceSettings> {
        let statement =
            Statement::new("SELECT product_users, digest_channel FROM workspace_settings WHERE team_id = $1")
                .bind(team_id);
        Ok(self.runner.read_optional(statement).await?.unwrap_or_default())
    }

    async fn change_setting(
        &self,
        team_id: &TeamId,
        change: SettingChange<'_>,
        by: &UserId,
        at: Millis,
    ) -> StoreResult<()> {
        let (column, value) = match change {
            SettingChange::ProductUsers(users) => ("product_users", Value::from(users)),
            SettingChange::DigestChannel(channel) => ("digest_channel", Value::from(channel)),
        };
        let statement = Statement::new(format!(
            "INSERT INTO workspace_settings (team_id, {column}, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (team_id) DO UPDATE SET {column} = excluded.{column}, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at"
        ))
        .bind(team_id)
        .bind(value)
        .bind(by)
        .bind(at);
        self.runner.write_execute(statement).await.map(drop)
    }

    async fn put_oauth_state(&self, state_hash: &str, expires_at: Millis, now: Millis) -> StoreResult<()> {
        let hash = state_hash.to_owned();
        self.runner
            .write(move |c| {
                Box::pin(async move {
                    c.execute(&Statement::new("DELETE FROM oauth_states WHERE expires_at <= $1").bind(now))
                        .await?;
                    c.execute(
                        &Statement::new("INSERT INTO oauth_states (state_hash, expires_at) VALUES ($1, $2)")
                            .bind(hash)
                            .bind(expires_at),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    async fn take_oauth_state(&self, state_hash: &str, now: Millis) -> StoreResult<bool> {
        let statement = Statement::new("DELETE FROM oauth_states WHERE state_hash = $1 RETURNING expires_at")
            .bind(state_hash);
        let expires_at: Option<i64> = self
            .runner
            .write(move |c| Box::pin(async move { c.fetch_optional(&statement).await }))
            .await?;
        Ok(expires_at.is_some_and(|expires_at| expires_at > now))
    }
}
