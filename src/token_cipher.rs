//! Tokens at rest: every bot and refresh token an installation gives Circlet is sealed with
//! AES-256-GCM under `CIRCLET_ENCRYPTION_KEY` before it reaches the database, with a fresh random
//! nonce per value. The installation's team id is the associated data, so a sealed token copied
//! into another installation's row does not open.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::secret::Secret;

/// Marks the format of a sealed value, so a later scheme can be told apart.
const VERSION: &str = "v1:";
const NONCE_BYTES: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error(
        "CIRCLET_ENCRYPTION_KEY must be 32 bytes, as 64 hex characters or base64 (make one with `circlet keygen`)"
    )]
    BadKey,
    #[error("a stored token does not open with this CIRCLET_ENCRYPTION_KEY (was the key changed?)")]
    DoesNotOpen,
}

/// Cheap to clone: the expanded key (about a kilobyte) is shared.
#[derive(Clone)]
pub struct TokenCipher {
    cipher: std::sync::Arc<Aes256Gcm>,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher([redacted])")
    }
}

impl TokenCipher {
    /// Reads a key given as 64 hex characters or as base64 of 32 bytes.
    pub fn from_key_text(text: &str) -> Result<Self, CipherError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| CipherError::BadKey)?
        } else {
            STANDARD.decode(text).map_err(|_| CipherError::BadKey)?
        };
        if bytes.len() != 32 {
            return Err(CipherError::BadKey);
        }
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| CipherError::BadKey)?;
        Ok(Self {
            cipher: std::sync::Arc::new(cipher),
        })
    }

    /// A new random key, as `circlet keygen` prints it (hex).
    pub fn generate_key_text() -> String {
        hex::encode(Aes256Gcm::generate_key(&mut OsRng))
    }

    /// Seals `token` for the installation `team_id`.
    pub fn seal(&self, team_id: &str, token: &Secret) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: token.expose().as_bytes(),
            aad: team_id.as_bytes(),
        };
        // Encryption fails only for messages beyond GCM's limit (64 GiB); a token is not one.
        let sealed = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{VERSION}{}", STANDARD.encode(bytes))
    }

    /// Opens a value [`TokenCipher::seal`] made for the same installation.
    pub fn open(&self, team_id: &str, sealed: &str) -> Result<Secret, CipherError> {
        let encoded = sealed.strip_prefix(VERSION).ok_or(CipherError::DoesNotOpen)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| CipherError::DoesNotOpen)?;
        if bytes.len() <= NONCE_BYTES {
            return Err(CipherError::DoesNotOpen);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| CipherError::DoesNotOpen)?;
        let payload = Payload {
            msg: ciphertext,
            aad: team_id.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| CipherError::DoesNotOpen)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| CipherError::DoesNotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_cipher() -> TokenCipher {
        TokenCipher::from_key_text(&TokenCipher::generate_key_text()).unwrap()
    }

    #[test]
    fn a_sealed_token_opens_for_its_installation_only() {
        let cipher = new_cipher();
        let sealed = cipher.seal("T0HOME", &Secret::new("xoxb-1-secret"));
        assert!(!sealed.contains("xoxb"));
        assert_eq!(cipher.open("T0HOME", &sealed).unwrap().expose(), "xoxb-1-secret");
        assert_eq!(
            cipher.open("T0OTHER", &sealed).unwrap_err(),
            CipherError::DoesNotOpen
        );
        assert_eq!(
            new_cipher().open("T0HOME", &sealed).unwrap_err(),
            CipherError::DoesNotOpen,
            "another key"
        );
    }

    #[test]
    fn every_seal_has_a_fresh_nonce() {
        let cipher = new_cipher();
        let token = Secret::new("xoxb-1-secret");
        assert_ne!(cipher.seal("T0HOME", &token), cipher.seal("T0HOME", &token));
    }

    #[test]
    fn keys_are_read_as_hex_or_base64_of_32_bytes() {
        let hex_key = TokenCipher::generate_key_text();
        assert_eq!(hex_key.len(), 64);
        let base64_key = STANDARD.encode(hex::decode(&hex_key).unwrap());
        let sealed = TokenCipher::from_key_text(&hex_key)
            .unwrap()
            .seal("T1", &Secret::new("x"));
        assert_eq!(
            TokenCipher::from_key_text(&base64_key)
                .unwrap()
                .open("T1", &sealed)
                .unwrap()
                .expose(),
            "x"
        );
        for bad in ["", "abc", &hex_key[..62], &STANDARD.encode([0u8; 16])] {
            assert_eq!(
                TokenCipher::from_key_text(bad).unwrap_err(),
                CipherError::BadKey,
                "{bad}"
            );
        }
    }

    #[test]
    fn damaged_values_do_not_open() {
        let cipher = new_cipher();
        let sealed = cipher.seal("T1", &Secret::new("xoxb-1"));
        let mut damaged = sealed.clone().into_bytes();
        let last = damaged.len() - 3;
        damaged[last] = if damaged[last] == b'A' { b'B' } else { b'A' };
        for bad in [
            String::from_utf8(damaged).unwrap(),
            "v1:".into(),
            "xoxb-1".into(),
            sealed.replace("v1:", "v2:"),
        ] {
            assert_eq!(cipher.open("T1", &bad).unwrap_err(), CipherError::DoesNotOpen);
        }
    }
}
