//! Sealing of secrets at rest with the master key (AES-256-GCM, a fresh 96-bit nonce per seal).
//! A sealed blob is `version byte || nonce || ciphertext+tag`; the version byte lets the format
//! change without guessing. The key never leaves this type and is never printed (`Debug` hides it).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use std::sync::{Arc, RwLock};

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    BadMasterKey,
    #[error("a sealed secret could not be opened: wrong master key or corrupted data")]
    CannotOpen,
}

/// Re-reads where the keys came from (the SQLite key file) and returns the ring, current key
/// first, when it changed since the last read; `None` when it did not or cannot be read.
pub trait KeySource: Send + Sync {
    fn reload(&self) -> Option<Vec<String>>;
}

/// The keys that seal stored secrets: the current one seals, the current and any previous ones
/// open. Previous keys exist only during a rotation (`switchyard keys rotate-master` re-seals
/// every value under the current key, after which they can be dropped). Clones share the ring,
/// so a reload seen by one catalog is seen by all. Keys never leave this type and are never
/// printed (`Debug` hides them).
#[derive(Clone)]
pub struct MasterKey {
    ring: Arc<RwLock<Vec<Aes256Gcm>>>,
    source: Option<Arc<dyn KeySource>>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

fn parse_key(text: &str) -> Result<Aes256Gcm, SecretError> {
    let bytes = STANDARD.decode(text.trim()).map_err(|_| SecretError::BadMasterKey)?;
    if bytes.len() != 32 {
        return Err(SecretError::BadMasterKey);
    }
    Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretError::BadMasterKey)
}

/// What [`MasterKey::reseal`] did with one value.
#[derive(Debug, PartialEq, Eq)]
pub enum Resealed {
    /// Already sealed under the current key: nothing to write.
    Current,
    /// Opened with a previous key; this is the same plaintext sealed under the current key.
    Moved(Vec<u8>),
}

impl MasterKey {
    /// Parses `SWITCHYARD_MASTER_KEY` (base64 of 32 bytes, surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, SecretError> {
        Self::from_ring::<&str>(text, &[])
    }

    /// The current key and the previous ones that still open values sealed before a rotation.
    pub fn from_ring<S: AsRef<str>>(current: &str, previous: &[S]) -> Result<Self, SecretError> {
        let mut ring = vec![parse_key(current)?];
        for p in previous {
            ring.push(parse_key(p.as_ref())?);
        }
        Ok(MasterKey {
            ring: Arc::new(RwLock::new(ring)),
            source: None,
        })
    }

    /// Consults `source` before every seal and after a failed open, so a running process picks
    /// up a key file that `rotate-master` rewrote without a restart.
    pub fn with_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.source = Some(source);
        self
    }

    /// A new random key, base64-encoded, for the generated key file of a SQLite deployment.
    pub fn generate_base64() -> String {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        STANDARD.encode(k)
    }

    /// How many keys open values (the current one and the previous ones).
    pub fn ring_len(&self) -> usize {
        self.read_ring().len()
    }

    /// Picks up a changed key source; true when the ring was replaced.
    fn refresh(&self) -> bool {
        let Some(keys) = self.source.as_ref().and_then(|s| s.reload()) else {
            return false;
        };
        let parsed: Result<Vec<_>, _> = keys.iter().map(|k| parse_key(k)).collect();
        match parsed {
            Ok(ring) if !ring.is_empty() => {
                *self.ring.write().unwrap_or_else(|e| e.into_inner()) = ring;
                true
            }
            _ => false,
        }
    }

    // A poisoned lock only means another thread panicked while swapping in a whole new ring;
    // the Vec inside is always a complete ring, so reading through the poison is sound.
    fn read_ring(&self) -> std::sync::RwLockReadGuard<'_, Vec<Aes256Gcm>> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        self.refresh();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and a 12-byte nonce cannot fail for inputs below the
        // AES-GCM size limit (64 GiB), far above anything we store; the ring is never empty.
        let ct = self.read_ring()[0]
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encryption of a small buffer");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        match self.open_with_index(sealed) {
            Err(SecretError::CannotOpen) if self.refresh() => self.open_with_index(sealed),
            other => other,
        }
        .map(|(_, plain)| plain)
    }

    /// The value sealed under the current key, or `Current` when it already is.
    pub fn reseal(&self, sealed: &[u8]) -> Result<Resealed, SecretError> {
        let (index, plain) = self.open_with_index(sealed)?;
        Ok(if index == 0 {
            Resealed::Current
        } else {
            Resealed::Moved(self.seal(&plain))
        })
    }

    fn open_with_index(&self, sealed: &[u8]) -> Result<(usize, Vec<u8>), SecretError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_V1 {
            return Err(SecretError::CannotOpen);
        }
        let (nonce, ct) = sealed[1..].split_at(NONCE_LEN);
        self.read_ring()
            .iter()
            .enumerate()
            .find_map(|(i, k)| k.decrypt(Nonce::from_slice(nonce), ct).ok().map(|p| (i, p)))
            .ok_or(SecretError::CannotOpen)
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

    #[test]
    fn a_ring_opens_old_values_and_reseals_them_under_the_current_key() {
        let (old, new) = (MasterKey::generate_base64(), MasterKey::generate_base64());
        let before = MasterKey::from_base64(&old).unwrap().seal(b"token");
        let ring = MasterKey::from_ring(&new, &[old.as_str()]).unwrap();
        assert_eq!(ring.open(&before).unwrap(), b"token");
        let Resealed::Moved(after) = ring.reseal(&before).unwrap() else {
            panic!("a value under the old key must move");
        };
        assert_eq!(ring.reseal(&after).unwrap(), Resealed::Current);
        let new_only = MasterKey::from_base64(&new).unwrap();
        assert_eq!(new_only.open(&after).unwrap(), b"token");
        assert_eq!(new_only.open(&before), Err(SecretError::CannotOpen));
        assert_eq!(new_only.reseal(&before), Err(SecretError::CannotOpen));
        assert!(MasterKey::from_ring(&new, &["short"]).is_err());
    }

    struct File(std::sync::Mutex<Option<Vec<String>>>);
    impl KeySource for File {
        fn reload(&self) -> Option<Vec<String>> {
            self.0.lock().unwrap().take()
        }
    }

    #[test]
    fn a_changed_source_is_picked_up_before_sealing_and_after_a_failed_open() {
        let (old, new) = (MasterKey::generate_base64(), MasterKey::generate_base64());
        let source = Arc::new(File(std::sync::Mutex::new(None)));
        let running = MasterKey::from_base64(&old).unwrap().with_source(source.clone());
        let rotated = MasterKey::from_ring(&new, &[old.as_str()]).unwrap();
        let moved = rotated.seal(b"secret");
        *source.0.lock().unwrap() = Some(vec![new.clone(), old.clone()]);
        assert_eq!(running.open(&moved).unwrap(), b"secret", "reloads once, then opens");
        assert_eq!(running.ring_len(), 2);
        let clone = running.clone();
        *source.0.lock().unwrap() = Some(vec![new.clone()]);
        let sealed = clone.seal(b"x");
        assert_eq!(running.ring_len(), 1, "clones share the ring");
        assert_eq!(MasterKey::from_base64(&new).unwrap().open(&sealed).unwrap(), b"x");
    }
}
