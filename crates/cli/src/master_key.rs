//! Finding the master key that seals stored secrets. `SWITCHYARD_MASTER_KEY` wins. Without it, a
//! SQLite deployment gets a generated key in a `0600` file beside the database (with a warning,
//! because losing that file means losing the secrets); PostgreSQL deployments must set it, since
//! every node has to share one key.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use switchyard_core::secrets::{MasterKey, SecretError};

pub const MASTER_KEY_ENV: &str = "SWITCHYARD_MASTER_KEY";

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("{MASTER_KEY_ENV} is invalid: {0}")]
    Invalid(SecretError),
    #[error("the key file {path} is invalid: {source}")]
    InvalidFile { path: String, source: SecretError },
    #[error(
        "{MASTER_KEY_ENV} must be set when the database is PostgreSQL (base64 of 32 bytes, the same on every node)"
    )]
    RequiredForPostgres,
    #[error("cannot use the key file {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The key file used for a SQLite database at `db_path`.
pub fn key_file_for(db_path: &Path) -> PathBuf {
    let mut name = db_path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".master-key");
    db_path.with_file_name(name)
}

/// Resolves the master key for `database_url`; `from_env` is the value of `SWITCHYARD_MASTER_KEY`.
pub fn resolve(
    database_url: &str,
    sqlite_path: Option<&Path>,
    from_env: Option<String>,
) -> Result<MasterKey, MasterKeyError> {
    if let Some(v) = from_env.filter(|v| !v.trim().is_empty()) {
        return MasterKey::from_base64(&v).map_err(MasterKeyError::Invalid);
    }
    let Some(db_path) = sqlite_path.filter(|_| database_url.starts_with("sqlite:")) else {
        return Err(MasterKeyError::RequiredForPostgres);
    };
    let file = key_file_for(db_path);
    let shown = file.display().to_string();
    let io = |source| MasterKeyError::Io {
        path: shown.clone(),
        source,
    };
    match std::fs::read_to_string(&file) {
        Ok(text) => MasterKey::from_base64(&text).map_err(|source| MasterKeyError::InvalidFile {
            path: shown.clone(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let encoded = MasterKey::generate_base64();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&file)
                .map_err(io)?;
            f.write_all(encoded.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(io)?;
            tracing::warn!(
                key_file = %shown,
                "{MASTER_KEY_ENV} is not set: generated a master key into the key file; back it up with the database, \
                 or set {MASTER_KEY_ENV} in production"
            );
            MasterKey::from_base64(&encoded).map_err(MasterKeyError::Invalid)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_a_private_key_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let k1 = resolve("sqlite://x", Some(&db), None).unwrap();
        let file = key_file_for(&db);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        let k2 = resolve("sqlite://x", Some(&db), None).unwrap();
        assert_eq!(k2.open(&k1.seal(b"x")).unwrap(), b"x", "the same key is read back");
    }

    #[test]
    fn postgres_needs_the_env_key_and_bad_keys_are_refused() {
        assert!(matches!(
            resolve("postgres://h/db", None, None),
            Err(MasterKeyError::RequiredForPostgres)
        ));
        assert!(matches!(
            resolve("postgres://h/db", None, Some("short".into())),
            Err(MasterKeyError::Invalid(_))
        ));
        assert!(resolve("postgres://h/db", None, Some(MasterKey::generate_base64())).is_ok());
    }
}
