//! API tokens: `circlet_<prefix>_<secret>`. The prefix is public and finds the stored row; only
//! a SHA-256 of the secret is stored, compared in constant time. Tokens are random (256 bits),
//! so a fast hash is enough: there is nothing to guess.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::Millis;
use crate::ids::TeamId;
use crate::store::{ApiToken, ApiTokens, NewApiToken, StoreError, TokenTeam};

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
    team_id: Option<&TeamId>,
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

/// How often a token's use is written at most: often enough to tell a token in use from an
/// abandoned one, while a client polling the API costs one write a minute, not one a request.
pub const LAST_USE_EVERY: Millis = 60_000;

/// When this process last wrote each token's use.
#[derive(Debug, Default)]
pub struct LastUse(Mutex<HashMap<i64, Millis>>);

impl LastUse {
    /// Whether `token`'s use at `now` is to be written; if so, it counts as written from now.
    pub fn due(&self, token: &ApiToken, now: Millis) -> bool {
        let mut written = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let last = written.get(&token.id).copied().max(token.last_used_at);
        if last.is_some_and(|at| now - at < LAST_USE_EVERY) {
            return false;
        }
        written.insert(token.id, now);
        true
    }
}

/// The stored token that `presented` is, if it is valid and not revoked. The check only reads;
/// a valid token's use is written in the background when [`LastUse`] says it is due, so no
/// answer waits for a write and no unknown token causes one.
pub async fn authenticate(
    tokens: &Arc<dyn ApiTokens>,
    last_use: &LastUse,
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
    if last_use.due(&stored, now) {
        let (tokens, id) = (tokens.clone(), stored.id);
        tokio::spawn(async move {
            // Bookkeeping: failing to record it must not refuse a valid token.
            if let Err(err) = tokens.token_used(id, now).await {
                tracing::warn!(error = %err, token = id, "could not record the token's use");
            }
        });
    }
    Ok(stored)
}

/// Whether `token` still stands (not revoked, not replaced), read again: a long export checks
/// it between pages.
pub async fn still_valid(tokens: &dyn ApiTokens, token: &ApiToken) -> Result<(), TokenError> {
    match tokens.token_by_prefix(&token.prefix).await? {
        Some(stored) if stored.id == token.id && stored.revoked_at.is_none() => Ok(()),
        Some(stored) if stored.id == token.id => Err(TokenError::Revoked),
        _ => Err(TokenError::Unknown),
    }
}

/// The workspace a token reads: the one it is bound to, or else the only one in the database.
/// None when it reads nothing: no workspace has insights yet, or it is bound to text that is
/// no team id. A database holding several needs bound tokens.
pub async fn workspace_of(tokens: &dyn ApiTokens, token: &ApiToken) -> Result<Option<TeamId>, TokenError> {
    match &token.team {
        TokenTeam::Bound(team) => return Ok(Some(team.clone())),
        TokenTeam::Unusable(_) => return Ok(None),
        TokenTeam::Unbound => {}
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

    fn token(last_used_at: Option<Millis>) -> ApiToken {
        ApiToken {
            id: 7,
            name: "looker".into(),
            team: TokenTeam::Unbound,
            prefix: "abc".into(),
            secret_hash: hash("s"),
            created_at: 0,
            last_used_at,
            revoked_at: None,
        }
    }

    #[test]
    fn a_tokens_use_is_written_at_most_once_a_minute() {
        let last_use = LastUse::default();
        assert!(last_use.due(&token(None), 1_000), "never used: written");
        assert!(
            !last_use.due(&token(None), 1_000 + LAST_USE_EVERY - 1),
            "written a moment ago"
        );
        assert!(
            last_use.due(&token(None), 1_000 + LAST_USE_EVERY),
            "a minute later"
        );
        let other = LastUse::default();
        assert!(
            !other.due(&token(Some(5_000)), 5_000 + 30_000),
            "stored half a minute ago (another process, or before a restart)"
        );
        assert!(other.due(&token(Some(5_000)), 5_000 + LAST_USE_EVERY));
    }

    #[test]
    fn only_the_secret_hash_is_kept() {
        assert_eq!(hash("s").len(), 64);
        assert_ne!(hash("s"), "s");
    }
}
