//! Slack request signing: `v0=` HMAC-SHA256 over `v0:{timestamp}:{raw body}`, checked before
//! anything reads the body, with a ±5 minute replay window and a constant-time comparison.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::clock::SharedClock;
use crate::secret::Secret;

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Slack's replay window, applied both ways: a timestamp from the future is as suspect as a
/// stale one.
pub const MAX_SKEW_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Slack-Signature or X-Slack-Request-Timestamp header")]
    Missing,
    #[error("malformed signature headers")]
    Malformed,
    #[error("request timestamp outside the 5 minute window")]
    Expired,
    #[error("signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// Label for the signature-failure metric.
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::Expired => "expired",
            SignatureError::Mismatch => "mismatch",
        }
    }
}

pub struct SignatureVerifier {
    secret: Secret,
    clock: SharedClock,
}

impl SignatureVerifier {
    pub fn new(secret: Secret, clock: SharedClock) -> Self {
        Self { secret, clock }
    }

    /// Checks the request's signature headers against its raw body.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        let header = |name| {
            headers
                .get(name)
                .map(|v| v.to_str().map_err(|_| SignatureError::Malformed))
        };
        let (Some(timestamp), Some(signature)) = (header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER)) else {
            return Err(SignatureError::Missing);
        };
        self.verify_parts(timestamp?, signature?, body)
    }

    pub fn verify_parts(&self, timestamp: &str, signature: &str, body: &[u8]) -> Result<(), SignatureError> {
        let ts: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Malformed)?;
        // abs_diff: `now - ts` overflows for timestamps near i64::MIN, and `.abs()` of the
        // wrapped value would let them through (found by fuzz/fuzz_targets/signature.rs).
        if self.clock.now_secs().abs_diff(ts) > MAX_SKEW_SECS as u64 {
            return Err(SignatureError::Expired);
        }
        let hex_digest = signature.strip_prefix("v0=").ok_or(SignatureError::Malformed)?;
        let mut expected = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut expected).map_err(|_| SignatureError::Mismatch)?;
        mac(&self.secret, timestamp.trim(), body)
            .verify_slice(&expected)
            .map_err(|_| SignatureError::Mismatch)
    }
}

fn mac(secret: &Secret, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The `X-Slack-Signature` value Slack would send, for the fuzz harness and unit tests (the
/// demo, integration tests and benches sign with `circlet_testkit`).
pub(crate) fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, &timestamp.to_string(), body).finalize().into_bytes();
    format!("v0={}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const DOCS_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOCS_TIMESTAMP: i64 = 1531420618;
    const DOCS_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOCS_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn verifier_at(now: i64) -> SignatureVerifier {
        SignatureVerifier::new(Secret::new(DOCS_SECRET), ManualClock::at_secs(now))
    }

    #[test]
    fn slacks_documented_test_vector_verifies() {
        assert_eq!(DOCS_BODY.len(), 362);
        let verifier = verifier_at(DOCS_TIMESTAMP);
        assert_eq!(
            verifier.verify_parts(&DOCS_TIMESTAMP.to_string(), DOCS_SIGNATURE, DOCS_BODY.as_bytes()),
            Ok(())
        );
        assert_eq!(
            sign(&Secret::new(DOCS_SECRET), DOCS_TIMESTAMP, DOCS_BODY.as_bytes()),
            DOCS_SIGNATURE
        );
    }

    #[test]
    fn a_changed_body_byte_fails() {
        let mut body = DOCS_BODY.as_bytes().to_vec();
        body[10] ^= 1;
        let verifier = verifier_at(DOCS_TIMESTAMP);
        assert_eq!(
            verifier.verify_parts(&DOCS_TIMESTAMP.to_string(), DOCS_SIGNATURE, &body),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_window_is_five_minutes_each_way() {
        let ts = DOCS_TIMESTAMP.to_string();
        let body = DOCS_BODY.as_bytes();
        assert_eq!(
            verifier_at(DOCS_TIMESTAMP + 300).verify_parts(&ts, DOCS_SIGNATURE, body),
            Ok(())
        );
        assert_eq!(
            verifier_at(DOCS_TIMESTAMP - 300).verify_parts(&ts, DOCS_SIGNATURE, body),
            Ok(())
        );
        assert_eq!(
            verifier_at(DOCS_TIMESTAMP + 301).verify_parts(&ts, DOCS_SIGNATURE, body),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verifier_at(DOCS_TIMESTAMP - 301).verify_parts(&ts, DOCS_SIGNATURE, body),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let verifier = verifier_at(DOCS_TIMESTAMP);
        let ts = DOCS_TIMESTAMP.to_string();
        let body = DOCS_BODY.as_bytes();
        assert_eq!(
            verifier.verify_parts("yesterday", DOCS_SIGNATURE, body),
            Err(SignatureError::Malformed)
        );
        let v1 = DOCS_SIGNATURE.replace("v0=", "v1=");
        assert_eq!(
            verifier.verify_parts(&ts, &v1, body),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verifier.verify_parts(&ts, "v0=zz", body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verifier.verify_parts(&ts, "v0=", body),
            Err(SignatureError::Mismatch)
        );
        let upper = DOCS_SIGNATURE.to_uppercase().replace("V0=", "v0=");
        assert_eq!(
            verifier.verify_parts(&ts, &upper, body),
            Ok(()),
            "hex case does not matter"
        );
    }

    #[test]
    fn timestamps_at_the_ends_of_i64_are_expired_not_a_panic() {
        let verifier = verifier_at(DOCS_TIMESTAMP);
        for ts in [i64::MIN, i64::MIN + 1, -DOCS_TIMESTAMP, i64::MAX] {
            let signature = sign(&Secret::new(DOCS_SECRET), ts, DOCS_BODY.as_bytes());
            assert_eq!(
                verifier.verify_parts(&ts.to_string(), &signature, DOCS_BODY.as_bytes()),
                Err(SignatureError::Expired),
                "{ts}"
            );
        }
    }

    #[test]
    fn missing_headers_are_refused() {
        let verifier = verifier_at(DOCS_TIMESTAMP);
        let mut headers = HeaderMap::new();
        assert_eq!(verifier.verify(&headers, b""), Err(SignatureError::Missing));
        headers.insert(TIMESTAMP_HEADER, DOCS_TIMESTAMP.to_string().parse().unwrap());
        assert_eq!(verifier.verify(&headers, b""), Err(SignatureError::Missing));
        headers.insert(SIGNATURE_HEADER, DOCS_SIGNATURE.parse().unwrap());
        assert_eq!(verifier.verify(&headers, DOCS_BODY.as_bytes()), Ok(()));
    }
}
