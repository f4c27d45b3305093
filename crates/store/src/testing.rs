//! Helpers for test suites that run against both backends: a fresh PostgreSQL database per test
//! (so tests run in parallel) and a visible note when the PostgreSQL suite is skipped.

use std::io::Write;
use std::sync::Once;

/// Environment variable holding a PostgreSQL server URL for tests.
pub const TEST_POSTGRES_ENV: &str = "SWITCHYARD_TEST_POSTGRES";

static SKIP_NOTE: Once = Once::new();

/// The base URL when the PostgreSQL suite is enabled. When it is not, prints (once per test
/// binary, past the test harness's output capture) that the suite was skipped.
pub fn postgres_base_url() -> Option<String> {
    match std::env::var(TEST_POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            SKIP_NOTE.call_once(|| {
                // Written to the raw stderr handle: libtest captures only print!/eprint!.
                let _ = writeln!(
                    std::io::stderr(),
                    "note: PostgreSQL suite skipped ({TEST_POSTGRES_ENV} is not set); the SQLite suite ran"
                );
            });
            None
        }
    }
}

/// Creates an empty database on the server at `base_url` and returns its URL.
pub async fn fresh_postgres_database(base_url: &str) -> Result<String, sqlx::Error> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(base_url).await?;
    let name = format!("sy_test_{}", ulid::Ulid::new().to_string().to_lowercase());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(replace_database(base_url, &name))
}

/// Drops a database made by [`fresh_postgres_database`]; best effort.
pub async fn drop_postgres_database(base_url: &str, db_url: &str) {
    use sqlx::Connection;
    let Some(name) = db_url
        .rsplit('/')
        .next()
        .map(|s| s.split('?').next().unwrap_or(s).to_string())
    else {
        return;
    };
    if !name.starts_with("sy_test_") {
        return;
    }
    if let Ok(mut admin) = sqlx::PgConnection::connect(base_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
        let _ = admin.close().await;
    }
}

/// `postgres://u@h:p/olddb?x` → `postgres://u@h:p/newdb?x`.
fn replace_database(url: &str, db: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// An inbound event of source `src_a` (named `a`) holding dedup key `key` until `expires_at`.
pub fn keyed_event(id: &str, key: &str, expires_at: i64) -> crate::IntakeWrite {
    crate::IntakeWrite::Event(crate::NewEvent {
        id: id.into(),
        source_id: Some("src_a".into()),
        source_name: Some("a".into()),
        event_type: None,
        status: "received".into(),
        received_at: 1,
        content_type: Some("application/json".into()),
        headers: "{}".into(),
        payload: b"{}".to_vec(),
        request_id: format!("req_{id}"),
        dedup: Some(crate::DedupKey {
            key: key.into(),
            expires_at,
        }),
        validation_errors: None,
        deliveries: Vec::new(),
        runs: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::replace_database("postgres://p@h:5432/test", "x"),
            "postgres://p@h:5432/x"
        );
        assert_eq!(
            super::replace_database("postgres://p@h/test?sslmode=disable", "x"),
            "postgres://p@h/x?sslmode=disable"
        );
        assert_eq!(super::replace_database("postgres://p@h", "x"), "postgres://p@h/x");
    }
}
