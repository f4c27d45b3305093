//! Finding the master key that seals stored secrets. `SWITCHYARD_MASTER_KEY` wins (with
//! `SWITCHYARD_MASTER_KEY_PREVIOUS`, comma-separated, during a rotation). Without it, a SQLite
//! deployment gets a generated key in a `0600` file beside the database (with a warning, because
//! losing that file means losing the secrets): one key per line, the current one first. A
//! server watches that file, so `keys rotate-master` rewrites it under a running server.
//! PostgreSQL deployments must set the variable, since every node has to share one key.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use switchyard_core::secrets::{KeySource, MasterKey, SecretError};

pub const MASTER_KEY_ENV: &str = "SWITCHYARD_MASTER_KEY";
pub const PREVIOUS_KEYS_ENV: &str = "SWITCHYARD_MASTER_KEY_PREVIOUS";

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("{MASTER_KEY_ENV} is invalid: {0}")]
    Invalid(SecretError),
    #[error("{PREVIOUS_KEYS_ENV} is invalid (base64 of 32 bytes each, comma-separated): {0}")]
    InvalidPrevious(SecretError),
    #[error("the key file {path} is invalid: {source}")]
    InvalidFile { path: String, source: SecretError },
    #[error(
        "{MASTER_KEY_ENV} must be set when the database is PostgreSQL (base64 of 32 bytes, the same on every node)"
    )]
    RequiredForPostgres,
    #[error("cannot use the key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The keys given in the environment.
#[derive(Debug, Default, Clone)]
pub struct EnvKeys {
    pub current: Option<String>,
    /// Comma- or whitespace-separated previous keys.
    pub previous: Option<String>,
}

impl EnvKeys {
    pub fn from_env() -> Self {
        EnvKeys {
            current: std::env::var(MASTER_KEY_ENV).ok().filter(|v| !v.trim().is_empty()),
            previous: std::env::var(PREVIOUS_KEYS_ENV).ok(),
        }
    }

    fn previous_keys(&self) -> Vec<&str> {
        split_keys(self.previous.as_deref().unwrap_or(""))
    }
}

fn split_keys(text: &str) -> Vec<&str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .collect()
}

/// The key file used for a SQLite database at `db_path`.
pub fn key_file_for(db_path: &Path) -> PathBuf {
    let mut name = db_path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".master-key");
    db_path.with_file_name(name)
}

/// Where the keys come from: the environment, or a SQLite deployment's key file.
pub enum KeyOrigin {
    Env,
    File(PathBuf),
}

/// Resolves the master key for `database_url`.
pub fn resolve(database_url: &str, sqlite_path: Option<&Path>, env: EnvKeys) -> Result<MasterKey, MasterKeyError> {
    resolve_with_origin(database_url, sqlite_path, env).map(|(key, _)| key)
}

pub fn resolve_with_origin(
    database_url: &str,
    sqlite_path: Option<&Path>,
    env: EnvKeys,
) -> Result<(MasterKey, KeyOrigin), MasterKeyError> {
    if let Some(current) = &env.current {
        MasterKey::from_base64(current).map_err(MasterKeyError::Invalid)?;
        let key = MasterKey::from_ring(current, &env.previous_keys()).map_err(MasterKeyError::InvalidPrevious)?;
        return Ok((key, KeyOrigin::Env));
    }
    let Some(db_path) = sqlite_path.filter(|_| database_url.starts_with("sqlite:")) else {
        return Err(MasterKeyError::RequiredForPostgres);
    };
    let file = key_file_for(db_path);
    let source = Arc::new(KeyFile::new(file.clone()));
    let keys = match source.read() {
        Ok(keys) => keys,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let encoded = MasterKey::generate_base64();
            write_key_file(&file, &[encoded.as_str()], true)?;
            tracing::warn!(
                key_file = %file.display(),
                "{MASTER_KEY_ENV} is not set: generated a master key into the key file; back it up with the database, \
                 or set {MASTER_KEY_ENV} in production"
            );
            source.read().map_err(|e| io_error(&file, e))?
        }
        Err(e) => return Err(io_error(&file, e)),
    };
    let key = ring_from(&file, &keys)?.with_source(source);
    Ok((key, KeyOrigin::File(file)))
}

fn ring_from(file: &Path, keys: &[String]) -> Result<MasterKey, MasterKeyError> {
    let invalid = |source| MasterKeyError::InvalidFile {
        path: file.display().to_string(),
        source,
    };
    let (current, previous) = keys.split_first().ok_or_else(|| invalid(SecretError::BadMasterKey))?;
    MasterKey::from_ring(current, previous).map_err(invalid)
}

fn io_error(file: &Path, source: std::io::Error) -> MasterKeyError {
    MasterKeyError::Io {
        path: file.display().to_string(),
        source,
    }
}

/// Writes `keys` (current first) to the key file: a new `0600` file renamed over the old one,
/// so a reader sees the old ring or the new one, never half of either.
pub fn write_key_file(file: &Path, keys: &[&str], create_new: bool) -> Result<(), MasterKeyError> {
    let io = |e| io_error(file, e);
    let tmp = if create_new {
        file.to_path_buf()
    } else {
        file.with_extension("master-key.tmp")
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(create_new)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(keys.join("\n").as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(io)?;
    if !create_new {
        std::fs::rename(&tmp, file).map_err(io)?;
    }
    if let Some(dir) = file.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A key file a running process keeps an eye on: re-read when its inode, size or modification
/// time changed since the last read.
pub struct KeyFile {
    path: PathBuf,
    seen: Mutex<Option<(u64, u64, i64, i64)>>,
}

impl KeyFile {
    pub fn new(path: PathBuf) -> Self {
        KeyFile {
            path,
            seen: Mutex::new(None),
        }
    }

    fn stamp(&self) -> std::io::Result<(u64, u64, i64, i64)> {
        let m = std::fs::metadata(&self.path)?;
        Ok((m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
    }

    /// The keys in the file, current first; remembers the file's stamp.
    pub fn read(&self) -> std::io::Result<Vec<String>> {
        let stamp = self.stamp()?;
        let text = std::fs::read_to_string(&self.path)?;
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(stamp);
        Ok(split_keys(&text).into_iter().map(str::to_string).collect())
    }
}

impl KeySource for KeyFile {
    fn reload(&self) -> Option<Vec<String>> {
        let stamp = self.stamp().ok()?;
        if *self.seen.lock().unwrap_or_else(|e| e.into_inner()) == Some(stamp) {
            return None;
        }
        let keys = self.read().ok()?;
        tracing::info!(key_file = %self.path.display(), keys = keys.len(), "the master key file changed: keys reloaded");
        Some(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn env(current: Option<&str>, previous: Option<&str>) -> EnvKeys {
        EnvKeys {
            current: current.map(str::to_string),
            previous: previous.map(str::to_string),
        }
    }

    #[test]
    fn previous_keys_come_from_the_environment_and_bad_ones_are_refused() {
        let (old, new) = (MasterKey::generate_base64(), MasterKey::generate_base64());
        let sealed = MasterKey::from_base64(&old).unwrap().seal(b"v");
        let ring = resolve("postgres://h/db", None, env(Some(&new), Some(&format!(" {old} , "))));
        assert_eq!(ring.unwrap().open(&sealed).unwrap(), b"v");
        assert!(matches!(
            resolve("postgres://h/db", None, env(Some(&new), Some("nope"))),
            Err(MasterKeyError::InvalidPrevious(_))
        ));
    }

    #[test]
    fn a_rewritten_key_file_is_picked_up_by_a_running_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let running = resolve("sqlite://x", Some(&db), EnvKeys::default()).unwrap();
        let file = key_file_for(&db);
        let old = std::fs::read_to_string(&file).unwrap().trim().to_string();
        let new = MasterKey::generate_base64();
        write_key_file(&file, &[new.as_str(), old.as_str()], false).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        let under_new = MasterKey::from_base64(&new).unwrap().seal(b"moved");
        assert_eq!(running.open(&under_new).unwrap(), b"moved");
        assert_eq!(running.ring_len(), 2);
        write_key_file(&file, &[new.as_str()], false).unwrap();
        let sealed = running.seal(b"after");
        assert_eq!(running.ring_len(), 1, "a seal reloads first");
        assert_eq!(MasterKey::from_base64(&new).unwrap().open(&sealed).unwrap(), b"after");
    }

    #[test]
    fn generates_a_private_key_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let k1 = resolve("sqlite://x", Some(&db), EnvKeys::default()).unwrap();
        let file = key_file_for(&db);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        let k2 = resolve("sqlite://x", Some(&db), EnvKeys::default()).unwrap();
        assert_eq!(k2.open(&k1.seal(b"x")).unwrap(), b"x", "the same key is read back");
    }

    #[test]
    fn postgres_needs_the_env_key_and_bad_keys_are_refused() {
        assert!(matches!(
            resolve("postgres://h/db", None, EnvKeys::default()),
            Err(MasterKeyError::RequiredForPostgres)
        ));
        assert!(matches!(
            resolve("postgres://h/db", None, env(Some("short"), None)),
            Err(MasterKeyError::Invalid(_))
        ));
        assert!(resolve("postgres://h/db", None, env(Some(&MasterKey::generate_base64()), None)).is_ok());
    }
}
