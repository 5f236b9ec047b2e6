//! API tokens for the export API. Only a hash of each token's secret is stored; the public
//! prefix finds the row.

use async_trait::async_trait;
use sqlx::{Pool, Postgres, Sqlite};

use super::StoreResult;
use crate::clock::Millis;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// The workspace whose insights it reads; None: the only one in the database.
    pub team_id: Option<String>,
    pub prefix: String,
    pub secret_hash: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

#[derive(Debug, Clone, Copy)]
pub struct NewApiToken<'a> {
    pub name: &'a str,
    pub team_id: Option<&'a str>,
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
    async fn insight_teams(&self) -> StoreResult<Vec<String>>;
}

/// The pools [`ApiTokens`] uses: lookups on `read`, so checking a presented token never waits
/// for (or holds) SQLite's one write connection; creating, revoking and recording use on
/// `write`. PostgreSQL passes one pool for both.
pub struct TokenPools<DB: sqlx::Database> {
    pub(super) read: Pool<DB>,
    pub(super) write: Pool<DB>,
}

const TOKEN_COLUMNS: &str = "id, name, team_id, prefix, secret_hash, created_at, last_used_at, revoked_at";

macro_rules! impl_api_tokens {
    ($db:ty) => {
        #[async_trait]
        impl ApiTokens for TokenPools<$db> {
            async fn create_token(&self, new: &NewApiToken<'_>) -> StoreResult<ApiToken> {
                Ok(sqlx::query_as(&format!(
                    "INSERT INTO api_tokens (name, team_id, prefix, secret_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING {TOKEN_COLUMNS}"
                ))
                .bind(new.name)
                .bind(new.team_id)
                .bind(new.prefix)
                .bind(new.secret_hash)
                .bind(new.at)
                .fetch_one(&self.write)
                .await?)
            }

            async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
                Ok(sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"))
                    .fetch_all(&self.read)
                    .await?)
            }

            async fn token_by_prefix(&self, prefix: &str) -> StoreResult<Option<ApiToken>> {
                Ok(sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE prefix = $1"))
                    .bind(prefix)
                    .fetch_optional(&self.read)
                    .await?)
            }

            async fn revoke_token(&self, name_or_id: &str, at: Millis) -> StoreResult<u64> {
                let id = name_or_id.parse::<i64>().unwrap_or(-1);
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $3 WHERE revoked_at IS NULL AND (name = $1 OR id = $2)",
                )
                .bind(name_or_id)
                .bind(id)
                .bind(at)
                .execute(&self.write)
                .await?;
                Ok(done.rows_affected())
            }

            async fn token_used(&self, id: i64, at: Millis) -> StoreResult<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn insight_teams(&self) -> StoreResult<Vec<String>> {
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT team_id FROM insight_numbers ORDER BY team_id")
                        .fetch_all(&self.read)
                        .await?;
                Ok(rows.into_iter().map(|(team,)| team).collect())
            }
        }
    };
}

impl_api_tokens!(Sqlite);
impl_api_tokens!(Postgres);
