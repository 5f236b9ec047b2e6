//! The modal's `private_metadata`: which message the form is about and who opened it, signed so
//! a submission cannot be pointed at another message, workspace or user, and dated so an old
//! form cannot be replayed.

use hmac::Mac;
use serde::{Deserialize, Serialize};

use crate::domain::seal::HmacSha256;
use crate::ids::{ChannelId, TeamId, UserId};
use crate::secret::Secret;

/// How long an opened form may be submitted.
pub const FORM_LIFETIME_SECS: i64 = 2 * 3600;
/// Clock difference between replicas tolerated for a form issued "in the future".
pub const CLOCK_SKEW_SECS: i64 = 300;
/// Keeps these signatures apart from anything else signed with the same secret (Slack's own
/// request signatures use it too).
const PURPOSE: &[u8] = b"circlet/capture-modal/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("private_metadata is not a Circlet form")]
    Malformed,
    #[error("private_metadata signature does not match")]
    Forged,
    #[error("the form was opened more than two hours ago")]
    Stale,
    #[error("the form was submitted by another user or workspace than it was opened for")]
    WrongSubmitter,
}

/// What a capture form is about. Its ids are written as Slack's text and checked as they are
/// read back: Circlet signs only ids it parsed, so text of another shape is no Circlet form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormContext {
    pub team_id: TeamId,
    pub channel_id: ChannelId,
    pub message_ts: String,
    /// The user the form was opened for.
    pub user_id: UserId,
    /// Unix seconds.
    pub issued_at: i64,
    /// Whether the form was opened for a product user, and so shows (and may set) the
    /// product-only fields. Signed like the rest: a member cannot turn it on.
    #[serde(default)]
    pub product_fields: bool,
}

/// The wire form: the context and its signature (hex).
#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(flatten)]
    context: FormContext,
    sig: String,
}

impl FormContext {
    /// The `private_metadata` string to put on the view.
    pub fn seal(&self, key: &Secret) -> String {
        let sig = hex::encode(self.mac(key).finalize().into_bytes());
        let sealed = Sealed {
            context: self.clone(),
            sig,
        };
        serde_json::to_string(&sealed).unwrap_or_default()
    }

    /// Reads back a sealed context, checking its signature (in constant time) and age at `now`
    /// (Unix seconds).
    pub fn open(raw: &str, key: &Secret, now: i64) -> Result<FormContext, MetadataError> {
        let sealed: Sealed = serde_json::from_str(raw).map_err(|_| MetadataError::Malformed)?;
        let mut sig = [0u8; 32];
        hex::decode_to_slice(&sealed.sig, &mut sig).map_err(|_| MetadataError::Forged)?;
        sealed
            .context
            .mac(key)
            .verify_slice(&sig)
            .map_err(|_| MetadataError::Forged)?;
        // checked_sub: a far-off `issued_at` must read as stale, not overflow.
        let fresh = now
            .checked_sub(sealed.context.issued_at)
            .is_some_and(|age| (-CLOCK_SKEW_SECS..=FORM_LIFETIME_SECS).contains(&age));
        if !fresh {
            return Err(MetadataError::Stale);
        }
        Ok(sealed.context)
    }

    /// Only the user the form was opened for, in that workspace, may submit it: `team_id` and
    /// `user_id` as the submission names them.
    pub fn check_submitter(&self, team_id: &str, user_id: &str) -> Result<(), MetadataError> {
        if self.team_id == team_id && self.user_id == user_id {
            Ok(())
        } else {
            Err(MetadataError::WrongSubmitter)
        }
    }

    fn mac(&self, key: &Secret) -> HmacSha256 {
        let issued_at = self.issued_at.to_string();
        let product_fields = if self.product_fields { "product" } else { "member" };
        let fields = [
            self.team_id.as_str(),
            self.channel_id.as_str(),
            self.message_ts.as_str(),
            self.user_id.as_str(),
            issued_at.as_str(),
            product_fields,
        ];
        crate::domain::seal::mac(key, PURPOSE, &fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> FormContext {
        FormContext {
            team_id: TeamId::parse("T1").unwrap(),
            channel_id: ChannelId::parse("C1").unwrap(),
            message_ts: "1700000000.000100".into(),
            user_id: UserId::parse("U1").unwrap(),
            issued_at: 1_700_000_000,
            product_fields: false,
        }
    }

    fn key() -> Secret {
        Secret::new("k")
    }

    #[test]
    fn a_sealed_context_opens_within_two_hours() {
        let sealed = context().seal(&key());
        assert!(sealed.len() < 3000, "Slack keeps at most 3000 characters");
        let opened = FormContext::open(&sealed, &key(), 1_700_000_000 + FORM_LIFETIME_SECS);
        assert_eq!(opened, Ok(context()));
    }

    #[test]
    fn old_or_future_forms_are_stale() {
        let sealed = context().seal(&key());
        let late = 1_700_000_000 + FORM_LIFETIME_SECS + 1;
        assert_eq!(
            FormContext::open(&sealed, &key(), late),
            Err(MetadataError::Stale)
        );
        let early = 1_700_000_000 - CLOCK_SKEW_SECS - 1;
        assert_eq!(
            FormContext::open(&sealed, &key(), early),
            Err(MetadataError::Stale)
        );
    }

    #[test]
    fn forms_dated_at_the_ends_of_i64_are_stale_not_a_panic() {
        for (issued_at, now) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MIN), (i64::MIN, 0)] {
            let sealed = FormContext {
                issued_at,
                ..context()
            }
            .seal(&key());
            assert_eq!(FormContext::open(&sealed, &key(), now), Err(MetadataError::Stale));
        }
    }

    #[test]
    fn a_form_naming_ids_of_another_shape_is_no_circlet_form() {
        let sealed = context().seal(&key());
        for (id, other) in [("\"T1\"", "\"t1\""), ("\"C1\"", "\"U1\""), ("\"U1\"", "\"\"")] {
            let reshaped = sealed.replace(id, other);
            assert_ne!(reshaped, sealed);
            assert_eq!(
                FormContext::open(&reshaped, &key(), 1_700_000_000),
                Err(MetadataError::Malformed),
                "{reshaped}"
            );
        }
    }

    #[test]
    fn changed_fields_another_key_or_garbage_are_refused() {
        let sealed = context().seal(&key());
        let retargeted = sealed.replace("\"C1\"", "\"C2\"");
        assert_ne!(retargeted, sealed);
        let now = 1_700_000_000;
        assert_eq!(
            FormContext::open(&retargeted, &key(), now),
            Err(MetadataError::Forged)
        );
        let promoted = sealed.replace("\"product_fields\":false", "\"product_fields\":true");
        assert_ne!(promoted, sealed);
        assert_eq!(
            FormContext::open(&promoted, &key(), now),
            Err(MetadataError::Forged),
            "a member cannot give their form the product fields"
        );
        let other_key = Secret::new("other");
        assert_eq!(
            FormContext::open(&sealed, &other_key, now),
            Err(MetadataError::Forged)
        );
        assert_eq!(
            FormContext::open("hello", &key(), now),
            Err(MetadataError::Malformed)
        );
        let no_sig = sealed.replace("\"sig\"", "\"gis\"");
        assert_eq!(
            FormContext::open(&no_sig, &key(), now),
            Err(MetadataError::Malformed)
        );
    }
}
