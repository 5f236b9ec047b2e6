//! Privacy and retention (ARCHITECTURE §13): uninstall purges, retention, "Download my data".

mod download;
mod purge;
mod retention;

use circlet::clock::ManualClock;

use crate::helpers::{TestApp, TestDb};

const DAY_SECS: i64 = 86_400;

/// A single-workspace app on a clock that moves only when told, with `env` set.
async fn app_at(db: TestDb, clock: &std::sync::Arc<ManualClock>, env: &[(&str, &str)]) -> TestApp {
    let mut builder = TestApp::builder(db).clock(clock.clone());
    for (key, value) in env {
        builder = builder.env(key, value);
    }
    builder.start().await
}

/// Runs the day's privacy run through the inbox, as every replica queues it.
async fn run_privacy(app: &TestApp) {
    let now = app.services.clock.now_millis();
    circlet::domain::privacy::task::queue_run(app.store.as_ref(), now)
        .await
        .unwrap();
    app.worker.drain().await.unwrap();
}
