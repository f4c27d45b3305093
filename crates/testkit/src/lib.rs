//! The shared test harness (tests only): [`app::TestApp`] runs the real application on an
//! ephemeral port over a real SQLite file or a fresh PostgreSQL database (`backend_tests!` runs
//! a test on both), and [`receiver::Receiver`] is a local webhook receiver that records every
//! request and misbehaves on cue. Engine, server and flow tests share it instead of each keeping
//! a copy.

pub mod app;
pub mod fakes;
pub mod receiver;
pub mod smtp;

/// Defines each listed test once per backend: `sqlite::name` and `postgres::name`. The
/// PostgreSQL one runs when `SWITCHYARD_TEST_POSTGRES` is set (CI requires it).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let app = $crate::app::TestApp::spawn($crate::app::Backend::Sqlite).await.unwrap();
                super::$name(app).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(app) = $crate::app::TestApp::spawn($crate::app::Backend::Postgres).await else { return };
                super::$name(app).await;
            })*
        }
    };
}
