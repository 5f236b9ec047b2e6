//! HMAC-SHA256 over a purpose and length-prefixed fields: what signs the values Circlet hands
//! Slack to give back later (a modal's metadata, a confirmation button's value).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

pub type HmacSha256 = Hmac<Sha256>;

/// The MAC of `fields` under `key` for `purpose`. The purpose keeps one kind of signature from
/// passing for another made with the same key (Slack's request signatures use it too); each
/// field is length-prefixed, so no two different lists sign the same bytes.
pub fn mac(key: &Secret, purpose: &[u8], fields: &[&str]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(purpose);
    for field in fields {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field.as_bytes());
    }
    mac
}

/// The MAC of `fields`, as hex.
pub fn sign(key: &Secret, purpose: &[u8], fields: &[&str]) -> String {
    hex::encode(mac(key, purpose, fields).finalize().into_bytes())
}

/// Whether `signature` (hex) is the MAC of `fields`, compared in constant time.
pub fn verify(key: &Secret, purpose: &[u8], fields: &[&str], signature: &str) -> bool {
    let mut sig = [0u8; 32];
    hex::decode_to_slice(signature, &mut sig).is_ok() && mac(key, purpose, fields).verify_slice(&sig).is_ok()
}
