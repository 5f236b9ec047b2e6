//! Shared test fixtures.

pub mod app;
pub mod circle;
pub mod db;
pub mod ids;
pub mod insights;
pub mod install;
pub mod metrics;
pub mod samples;
pub mod schema;
pub mod serve;
pub mod traces;

pub use app::{APP_TOKEN, SECRET, TestApp};
pub use db::{Backend, TestDb};

/// Waits until `condition` holds, checking every 20 ms; panics after `limit`.
pub async fn eventually<F, Fut>(limit: std::time::Duration, condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the condition did not hold within {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
