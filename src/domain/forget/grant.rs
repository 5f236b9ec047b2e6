//! The value of the "Forget" confirmation button: which member, in which workspace, asked by
//! whom and when, signed. Anyone can post a `block_actions` payload with Slack's signature (a
//! member replaying or editing a click from their own client), so the button carries no
//! authority: it only says what was confirmed, and the click is checked against it.

use crate::domain::seal;
use crate::ids::{TeamId, UserId};
use crate::secret::Secret;

/// How long a confirmation may be clicked.
pub const GRANT_LIFETIME_SECS: i64 = 3600;
/// Clock difference between replicas tolerated for a confirmation issued "in the future".
const CLOCK_SKEW_SECS: i64 = 300;
const PURPOSE: &[u8] = b"circlet/forget-member/v1";

/// A confirmation to forget `member` in `team`, shown to `requester` at `issued_at` (Unix
/// seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgetGrant {
    pub team: TeamId,
    pub member: UserId,
    pub requester: UserId,
    pub issued_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("not a Circlet confirmation")]
    Malformed,
    #[error("the confirmation's signature does not match")]
    Forged,
    #[error("the confirmation is more than an hour old")]
    Stale,
    #[error("the confirmation was shown to someone else, or in another workspace")]
    WrongClicker,
}

impl ForgetGrant {
    /// The button's value: the fields and their signature, separated by dots (no id has one).
    pub fn seal(&self, key: &Secret) -> String {
        let issued_at = self.issued_at.to_string();
        let fields = self.fields(&issued_at);
        format!("{}.{}", fields.join("."), seal::sign(key, PURPOSE, &fields))
    }

    /// Reads a button's value back, if it is Circlet's, unchanged and fresh at `now`.
    pub fn open(value: &str, key: &Secret, now: i64) -> Result<ForgetGrant, GrantError> {
        let parts: Vec<&str> = value.split('.').collect();
        let [team, member, requester, issued_at, signature] = parts[..] else {
            return Err(GrantError::Malformed);
        };
        let grant = ForgetGrant {
            team: TeamId::parse(team).map_err(|_| GrantError::Malformed)?,
            member: UserId::parse(member).map_err(|_| GrantError::Malformed)?,
            requester: UserId::parse(requester).map_err(|_| GrantError::Malformed)?,
            issued_at: issued_at.parse().map_err(|_| GrantError::Malformed)?,
        };
        if !seal::verify(key, PURPOSE, &grant.fields(issued_at), signature) {
            return Err(GrantError::Forged);
        }
        let fresh = now
            .checked_sub(grant.issued_at)
            .is_some_and(|age| (-CLOCK_SKEW_SECS..=GRANT_LIFETIME_SECS).contains(&age));
        if !fresh {
            return Err(GrantError::Stale);
        }
        Ok(grant)
    }

    /// Only the member it was shown to, in that workspace, may confirm it.
    pub fn check_clicker(&self, team: &TeamId, clicker: &UserId) -> Result<(), GrantError> {
        if &self.team == team && &self.requester == clicker {
            Ok(())
        } else {
            Err(GrantError::WrongClicker)
        }
    }

    fn fields<'a>(&'a self, issued_at: &'a str) -> [&'a str; 4] {
        [
            self.team.as_str(),
            self.member.as_str(),
            self.requester.as_str(),
            issued_at,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> ForgetGrant {
        ForgetGrant {
            team: TeamId::parse("T1").unwrap(),
            member: UserId::parse("U0MAYA").unwrap(),
            requester: UserId::parse("U0PM").unwrap(),
            issued_at: 1_700_000_000,
        }
    }

    fn key() -> Secret {
        Secret::new("k")
    }

    #[test]
    fn a_sealed_grant_opens_within_the_hour_and_fits_a_button() {
        let value = grant().seal(&key());
        assert!(value.len() <= 2000, "Slack keeps at most 2000 characters");
        assert_eq!(
            ForgetGrant::open(&value, &key(), 1_700_000_000 + GRANT_LIFETIME_SECS),
            Ok(grant())
        );
        assert_eq!(
            ForgetGrant::open(&value, &key(), 1_700_000_000 + GRANT_LIFETIME_SECS + 1),
            Err(GrantError::Stale)
        );
    }

    #[test]
    fn another_member_workspace_key_or_garbage_is_refused() {
        let value = grant().seal(&key());
        let now = 1_700_000_000;
        let retargeted = value.replace("U0MAYA", "U0OMAR");
        assert_eq!(
            ForgetGrant::open(&retargeted, &key(), now),
            Err(GrantError::Forged)
        );
        let other_team = value.replacen("T1", "T2", 1);
        assert_eq!(
            ForgetGrant::open(&other_team, &key(), now),
            Err(GrantError::Forged)
        );
        assert_eq!(
            ForgetGrant::open(&value, &Secret::new("other"), now),
            Err(GrantError::Forged)
        );
        assert_eq!(
            ForgetGrant::open("hello", &key(), now),
            Err(GrantError::Malformed)
        );
        assert_eq!(
            ForgetGrant::open(&value.replace("U0MAYA", "not-an-id"), &key(), now),
            Err(GrantError::Malformed)
        );
    }

    #[test]
    fn only_the_requester_in_that_workspace_may_confirm() {
        let grant = grant();
        let team = TeamId::parse("T1").unwrap();
        assert_eq!(
            grant.check_clicker(&team, &UserId::parse("U0PM").unwrap()),
            Ok(())
        );
        assert_eq!(
            grant.check_clicker(&team, &UserId::parse("U0MAYA").unwrap()),
            Err(GrantError::WrongClicker)
        );
        assert_eq!(
            grant.check_clicker(&TeamId::parse("T2").unwrap(), &UserId::parse("U0PM").unwrap()),
            Err(GrantError::WrongClicker)
        );
    }
}
