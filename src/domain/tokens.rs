//! API tokens: `circlet_<prefix>_<secret>`. The prefix is public and finds the stored row; only
//! a SHA-256 of the secret is stored, compared in constant time. Tokens are random (256 bits),
//! so a fast hash is enough: there is nothing to guess.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::Millis;
use crate::store::{ApiToken, ApiTokens, NewApiToken, StoreError};

const SCHEME: &str = "circlet";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no token given")]
    Missing,
    #[error("the token is not one Circlet issued")]
    Unknown,
    #[error("the token was revoked")]
    Revoked,
    #[error(
        "this database holds several workspaces; create a token for one with `circlet token create --name N --team T`"
    )]
    Ambiguous,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A token as printed once at creation; never stored.
pub struct IssuedToken {
    pub token: String,
    pub stored: ApiToken,
}

/// Creates a token named `name`, optionally bound to one workspace.
pub async fn issue(
    tokens: &dyn ApiTokens,
    name: &str,
    team_id: Option<&str>,
    now: Millis,
) -> Result<IssuedToken, TokenError> {
    let prefix = random_hex(6);
    let secret = random_hex(32);
    let stored = tokens
        .create_token(&NewApiToken {
            name,
            team_id,
            prefix: &prefix,
            secret_hash: &hash(&secret),
            at: now,
        })
        .await?;
    Ok(IssuedToken {
        token: format!("{SCHEME}_{prefix}_{secret}"),
        stored,
    })
}

/// The stored token that `presented` is, if it is valid and not revoked.
pub async fn authenticate(
    tokens: &dyn ApiTokens,
    presented: &str,
    now: Millis,
) -> Result<ApiToken, TokenError> {
    let (prefix, secret) = split(presented.trim()).ok_or(TokenError::Unknown)?;
    let stored = tokens.token_by_prefix(prefix).await?.ok_or(TokenError::Unknown)?;
    let matches: bool = hash(secret)
        .as_bytes()
        .ct_eq(stored.secret_hash.as_bytes())
        .into();
    if !matches {
        return Err(TokenError::Unknown);
    }
    if stored.revoked_at.is_some() {
        return Err(TokenError::Revoked);
    }
    // Last use is bookkeeping; a failure to record it must not refuse a valid token.
    if let Err(err) = tokens.token_used(stored.id, now).await {
        tracing::warn!(error = %err, token = stored.id, "could not record the token's use");
    }
    Ok(stored)
}

/// The workspace a token reads: the one it is bound to, or else the only one in the database
/// (None when there is none yet). A database holding several needs bound tokens.
pub async fn workspace_of(tokens: &dyn ApiTokens, token: &ApiToken) -> Result<Option<String>, TokenError> {
    if let Some(team) = &token.team_id {
        return Ok(Some(team.clone()));
    }
    let mut teams = tokens.insight_teams().await?;
    match teams.len() {
        0 | 1 => Ok(teams.pop()),
        _ => Err(TokenError::Ambiguous),
    }
}

fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(SCHEME)?.strip_prefix('_')?;
    let (prefix, secret) = rest.split_once('_')?;
    (!prefix.is_empty() && !secret.is_empty()).then_some((prefix, secret))
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_into_prefix_and_secret() {
        assert_eq!(split("circlet_abc_def"), Some(("abc", "def")));
        assert_eq!(split("circlet_abc_"), None);
        assert_eq!(split("xoxb-abc_def"), None);
        assert_eq!(split(""), None);
    }

    #[test]
    fn only_the_secret_hash_is_kept() {
        assert_eq!(hash("s").len(), 64);
        assert_ne!(hash("s"), "s");
    }
}
