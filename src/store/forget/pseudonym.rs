//! The keyed hash a forgotten member is kept as, and the pseudonym their insights show.
//!
//! The key is random, one per workspace, stored in `privacy_keys` and made at the workspace's
//! first forget. Why there and not a setting: the pseudonym must stay the same across restarts,
//! replicas, `circlet forget` run beside `serve` and a rotated signing secret (a second forget of
//! the same member must find the first); `CIRCLET_ENCRYPTION_KEY` exists only in multi-workspace
//! mode and the signing secret may be absent (Socket Mode) or rotated. A key in the workspace's
//! own rows goes with the workspace when it is purged, after which no hash can be tested again.
//! Whoever can read the database can test a candidate id against a hash, which is what the hash
//! is for (recognising the member again); it never yields the id by itself.

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::ids::{TeamId, UserId};

/// Keeps these hashes apart from anything else made with the same key.
const PURPOSE: &[u8] = b"circlet/forgotten-member/v1";

/// Hex characters of the hash a pseudonym shows: 48 bits, enough to tell a workspace's
/// forgotten members apart.
const PSEUDONYM_HEX: usize = 12;

/// What an author's id becomes: `member-` and the start of their keyed hash.
pub const PSEUDONYM_PREFIX: &str = "member-";

/// A new workspace key: 32 random bytes, as hex.
pub(super) fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// HMAC-SHA256 of (workspace, member) under the workspace's key, as hex. Each part is
/// length-prefixed, so no two pairs hash the same bytes.
pub(super) fn member_hash(key: &str, team: &TeamId, user: &UserId) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(PURPOSE);
    for part in [team.as_str(), user.as_str()] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The pseudonym of the member with this hash.
pub(super) fn pseudonym(member_hash: &str) -> String {
    let start = member_hash.get(..PSEUDONYM_HEX).unwrap_or(member_hash);
    format!("{PSEUDONYM_PREFIX}{start}")
}

/// Whether a stored author is a pseudonym rather than a Slack id.
pub fn is_pseudonym(text: &str) -> bool {
    text.strip_prefix(PSEUDONYM_PREFIX)
        .is_some_and(|rest| rest.len() == PSEUDONYM_HEX && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(team: &str, user: &str) -> (TeamId, UserId) {
        (TeamId::parse(team).unwrap(), UserId::parse(user).unwrap())
    }

    #[test]
    fn the_hash_is_stable_per_key_and_member_and_differs_otherwise() {
        let (team, maya) = ids("T1", "U0MAYA");
        let (_, omar) = ids("T1", "U0OMAR");
        let key = new_key();
        assert_eq!(member_hash(&key, &team, &maya), member_hash(&key, &team, &maya));
        assert_ne!(member_hash(&key, &team, &maya), member_hash(&key, &team, &omar));
        assert_ne!(
            member_hash(&key, &team, &maya),
            member_hash(&new_key(), &team, &maya)
        );
        let (other_team, _) = ids("T2", "U0MAYA");
        assert_ne!(
            member_hash(&key, &team, &maya),
            member_hash(&key, &other_team, &maya)
        );
    }

    #[test]
    fn a_pseudonym_names_no_id_and_is_recognised() {
        let (team, maya) = ids("T1", "U0MAYA");
        let name = pseudonym(&member_hash(&new_key(), &team, &maya));
        assert!(is_pseudonym(&name), "{name}");
        assert!(!name.contains("U0MAYA"));
        assert!(!is_pseudonym("U0MAYA"));
        assert!(!is_pseudonym("member-xyz"));
    }
}
