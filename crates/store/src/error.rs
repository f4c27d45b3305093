//! Storage errors, classified by what the caller should do: `Unavailable` means "answer 503 and
//! try again later" (never acknowledge), `Conflict` means a uniqueness rule refused the write.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("storage error: {0}")]
    Internal(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// SQLite result codes (primary, low byte) that mean the database cannot take writes right now.
const SQLITE_UNAVAILABLE: &[i64] = &[
    3,  // PERM
    5,  // BUSY
    6,  // LOCKED
    8,  // READONLY
    10, // IOERR
    13, // FULL
    14, // CANTOPEN
    26, // NOTADB
];

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::Io(_) | E::Tls(_) | E::Protocol(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
                StoreError::Unavailable(e.to_string())
            }
            E::Database(db) => {
                if db.is_unique_violation() {
                    return StoreError::Conflict(db.message().to_string());
                }
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                let unavailable = match code.parse::<i64>() {
                    // SQLite reports numeric (possibly extended) result codes.
                    Ok(n) => SQLITE_UNAVAILABLE.contains(&(n & 0xff)),
                    // PostgreSQL SQLSTATE: connection (08), resources (53), operator
                    // intervention (57), database missing (3D000), read-only transaction (25006).
                    Err(_) => {
                        code.starts_with("08")
                            || code.starts_with("53")
                            || code.starts_with("57")
                            || code == "3D000"
                            || code == "25006"
                    }
                };
                if unavailable {
                    StoreError::Unavailable(db.message().to_string())
                } else {
                    StoreError::Internal(e)
                }
            }
            E::ColumnDecode { .. } | E::Decode(_) => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Internal(e),
        }
    }
}
