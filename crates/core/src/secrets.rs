//! Sealing of secrets at rest with the master key (AES-256-GCM, a fresh 96-bit nonce per seal).
//! A sealed blob is `version byte || nonce || ciphertext+tag`; the version byte lets the format
//! change without guessing. The key never leaves this type and is never printed (`Debug` hides it).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    BadMasterKey,
    #[error("a sealed secret could not be opened: wrong master key or corrupted data")]
    CannotOpen,
}

/// The 32-byte key that seals stored secrets.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Parses `SWITCHYARD_MASTER_KEY` (base64 of 32 bytes, surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SecretError::BadMasterKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadMasterKey);
        }
        Aes256Gcm::new_from_slice(&bytes)
            .map(MasterKey)
            .map_err(|_| SecretError::BadMasterKey)
    }

    /// A new random key, base64-encoded, for the generated key file of a SQLite deployment.
    pub fn generate_base64() -> String {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        STANDARD.encode(k)
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and a 12-byte nonce cannot fail for inputs below the
        // AES-GCM size limit (64 GiB), far above anything we store.
        let ct = self
            .0
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encryption of a small buffer");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_V1 {
            return Err(SecretError::CannotOpen);
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.0
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| SecretError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        let k = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let sealed = k.seal(b"whsec_abc");
        assert_eq!(k.open(&sealed).unwrap(), b"whsec_abc");
        assert_ne!(k.seal(b"x"), k.seal(b"x"), "fresh nonce each time");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(k.open(&bad), Err(SecretError::CannotOpen));
        let other = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        assert_eq!(other.open(&sealed), Err(SecretError::CannotOpen));
    }

    #[test]
    fn master_key_must_be_32_bytes() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(format!("{:?}", MasterKey::from_base64(&MasterKey::generate_base64()).unwrap()) == "MasterKey(..)");
    }
}
