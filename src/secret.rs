//! A secret value (signing secret, bot token, signing key): a leaf type so that config, which
//! reads secrets, and slack, ingress and domain, which use them, need not import each other.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A secret that never shows in `Debug`, logs or errors.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
