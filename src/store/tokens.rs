//! API tokens for the export API. Only a hash of each token's secret is stored; the public
//! prefix finds the row.

use std::sync::Arc;

use async_trait::async_trait;

use super::StoreResult;
use super::runner::{RunStatement, Runner};
use super::sql::{Columns, FromRow, Row, Statement};
use crate::clock::Millis;
use crate::ids::TeamId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The workspace whose insights it reads.
    pub team: TokenTeam,
    pub prefix: String,
    pub secret_hash: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

/// The workspace a token reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenTeam {
    /// Bound to none: it reads the only workspace in the database.
    Unbound,
    Bound(TeamId),
    /// Bound by a `--team` given before team ids were checked to text that is no team id. No
    /// insight is stored under such a text, so the token reads nothing; the text is kept to
    /// be listed (and the token revoked), not to be used.
    Unusable(String),
}

impl TokenTeam {
    /// Reads the stored column leniently: it was the one id an operator typed unchecked, and
    /// one odd token must not stop `token list` or the other tokens.
    fn from_column(text: Option<String>) -> Self {
        match text {
            None => TokenTeam::Unbound,
            Some(text) => match TeamId::parse(text.as_str()) {
                Ok(team) => TokenTeam::Bound(team),
                Err(_) => TokenTeam::Unusable(text),
            },
        }
    }

    /// The team as listed: its id, the unusable text, or `-` when unbound.
    pub fn label(&self) -> &str {
        match self {
            TokenTeam::Unbound => "-",
            TokenTeam::Bound(team) => team.as_str(),
            TokenTeam::Unusable(text) => text,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct NewApiToken<'a> {
    pub name: &'a str,
    /// The workspace it reads; None: the only one in the database.
    pub team_id: Option<&'a TeamId>,
    pub prefix: &'a str,
    pub secret_hash: &'a str,
    pub at: Millis,
}

#[async_trait]
pub trait ApiTokens: Send + Sync {
    async fn create_token(&self, new: &NewApiToken<'_>) -> StoreResult<ApiToken>;
    /// Every token, revoked ones included, oldest first.
    async fn tokens(&self) -> StoreResult<Vec<ApiToken>>;
    async fn token_by_prefix(&self, prefix: &str) -> StoreResult<Option<ApiToken>>;
    /// Revokes the unrevoked tokens named `name_or_id` (a name, or an id); returns how many.
    async fn revoke_token(&self, name_or_id: &str, at: Millis) -> StoreResult<u64>;
    async fn token_used(&self, id: i64, at: Millis) -> StoreResult<()>;
    /// Workspaces that hold insights, for a token bound to none.
    async fn insight_teams(&self) -> StoreResult<Vec<TeamId>>;
}

/// [`ApiTokens`] over an engine's runner: lookups on its read connections, so checking a
/// presented token never waits for (or holds) SQLite's write turn; creating, revoking and
/// recording use in write transactions.
pub(super) struct SqlTokens<R> {
    runner: Arc<R>,
}

impl<R> SqlTokens<R> {
    pub(super) fn new(runner: Arc<R>) -> Self {
        Self { runner }
    }
}

const TOKEN_COLUMNS: &str = "id, name, team_id, prefix, secret_hash, created_at, last_used_at, revoked_at";

impl FromRow for ApiToken {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut c = Columns::new(row);
        Ok(ApiToken {
            id: c.take()?,
            name: c.take()?,
            team: TokenTeam::from_column(c.take()?),
            prefix: c.take()?,
            secret_hash: c.take()?,
            created_at: c.take()?,
            last_used_at: c.take()?,
            revoked_at: c.take()?,
        })
    }
}

#[async_trait]
impl<R: Runner> ApiTokens for SqlTokens<R> {
    async fn create_token(&self, new: &NewApiToken<'_>) -> StoreResult<ApiToken> {
        let statement = Statement::new(format!(
            "INSERT INTO api_tokens (name, team_id, prefix, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(new.name)
        .bind(new.team_id)
        .bind(new.prefix)
        .bind(new.secret_hash)
        .bind(new.at);
        self.runner.write_one(statement).await
    }

    async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let statement = Statement::new(format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"));
        self.runner.read_all(statement).await
    }

    async fn token_by_prefix(&self, prefix: &str) -> StoreResult<Option<ApiToken>> {
        let statement = Statement::new(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE prefix = $1"
        ))
        .bind(prefix);
        self.runner.read_optional(statement).await
    }

    async fn revoke_token(&self, name_or_id: &str, at: Millis) -> StoreResult<u64> {
        let statement = Statement::new(
            "UPDATE api_tokens SET revoked_at = $3 WHERE revoked_at IS NULL AND (name = $1 OR id = $2)",
        )
        .bind(name_or_id)
        .bind(name_or_id.parse::<i64>().unwrap_or(-1))
        .bind(at);
        self.runner.write_execute(statement).await
    }

    async fn token_used(&self, id: i64, at: Millis) -> StoreResult<()> {
        let statement = Statement::new("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at);
        self.runner.write_execute(statement).await.map(drop)
    }

    async fn insight_teams(&self) -> StoreResult<Vec<TeamId>> {
        let statement = Statement::new("SELECT team_id FROM insight_numbers ORDER BY team_id");
        self.runner.read_all(statement).await
    }
}
