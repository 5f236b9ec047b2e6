//! Inbox workers: dispatch by type, retries with backoff, dead rows, panics, lapsed claims,
//! pruning and graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use circlet::clock::{Clock, ManualClock};
use circlet::inbox::{
    DrainStep, HandlerError, HandlerRegistry, InboxHandler, InboxKind, InboxState, Job, Worker,
    WorkerSettings,
};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

/// What the scripted handler does on each call.
#[derive(Clone, Copy)]
enum Script {
    Succeed,
    FailTransient,
    FailPermanent,
    Panic,
    Hang,
}

struct Scripted {
    script: Script,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl InboxHandler for Scripted {
    async fn handle(&self, _job: &Job) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.script {
            Script::Succeed => Ok(()),
            Script::FailTransient => Err(HandlerError::transient("Slack answered 500")),
            Script::FailPermanent => Err(HandlerError::permanent("payload cannot be read")),
            Script::Panic => panic!("handler bug"),
            Script::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
        }
    }
}

async fn app_with(
    db: TestDb,
    script: Script,
    clock: Option<Arc<ManualClock>>,
) -> (TestApp, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let handler_calls = calls.clone();
    let mut builder = TestApp::builder(db).handlers(move |_| {
        HandlerRegistry::new().with(
            InboxKind::Event,
            "reaction_added",
            Arc::new(Scripted {
                script,
                calls: handler_calls,
            }),
        )
    });
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    (builder.start().await, calls)
}

fn event(event_id: &str, event_type: &str) -> serde_json::Value {
    json!({
        "token": "x", "team_id": "T0CIRCLE", "api_app_id": "A1", "type": "event_callback", "event_id": event_id,
        "event_time": 1, "event": {"type": event_type, "user": "U1", "channel": "C1", "ts": "1.000001",
        "reaction": "bulb", "item": {"type": "message", "channel": "C1", "ts": "1.000001"}},
    })
}

on_both_backends! {
    async fn rows_are_dispatched_by_type_and_finished(db: TestDb) {
        let (app, calls) = app_with(db, Script::Succeed, None).await;
        for n in 0..5 {
            app.sender.event(&event(&format!("EvOk{n}"), "reaction_added")).await.unwrap();
        }
        app.sender.event(&event("EvNoHandler", "member_left_channel")).await.unwrap();
        assert_eq!(app.worker.drain().await.unwrap(), 6);
        assert_eq!(calls.load(Ordering::SeqCst), 5, "only reaction_added has a handler");
        let counts = app.store.inbox_counts().await.unwrap();
        assert_eq!((counts.done, counts.unfinished()), (6, 0));
        assert_eq!(app.worker.try_run_next().await.unwrap(), DrainStep::Empty);
        let metrics = app.metrics().await;
        assert!(metrics.contains("circlet_inbox_processed_total{event_type=\"reaction_added\",outcome=\"done\"} 5"), "{metrics}");
        assert!(metrics.contains("circlet_inbox_processed_total{event_type=\"member_left_channel\",outcome=\"skipped\"} 1"));
        assert!(metrics.contains("circlet_inbox_processing_seconds_count{event_type=\"reaction_added\"} 5"));
    }
}

on_both_backends! {
    async fn transient_failures_back_off_then_park_the_row_as_dead(db: TestDb) {
        let clock = ManualClock::at_secs(1_763_900_000);
        let (app, calls) = app_with(db, Script::FailTransient, Some(clock.clone())).await;
        // The app's clock is frozen, so sign with it too.
        let body = event("EvFlaky", "reaction_added").to_string().into_bytes();
        let headers = app.sender.signed_headers(clock.now_secs(), &body);
        let answer = app.sender.post_with("/slack/events", circlet_testkit::sender::JSON, body, headers, &[]).await.unwrap();
        assert_eq!(answer.status, 200);

        let max = app.worker.settings().max_attempts;
        for attempt in 1..max {
            assert_eq!(app.worker.try_run_next().await.unwrap(), DrainStep::Worked(1));
            let row = app.store.find_inbox_by_event_id("EvFlaky").await.unwrap().unwrap();
            assert_eq!((row.state, row.attempts), (InboxState::Pending, attempt));
            assert_eq!(row.last_error.as_deref(), Some("Slack answered 500"));
            assert_eq!(app.worker.try_run_next().await.unwrap(), DrainStep::Empty, "backing off");
            clock.advance_millis(60_000);
        }
        assert_eq!(app.worker.try_run_next().await.unwrap(), DrainStep::Worked(1));
        let row = app.store.find_inbox_by_event_id("EvFlaky").await.unwrap().unwrap();
        assert_eq!((row.state, row.attempts), (InboxState::Dead, max));
        assert_eq!(calls.load(Ordering::SeqCst), max as usize);
        let metrics = app.metrics().await;
        assert!(metrics.contains("circlet_inbox_depth{state=\"dead\"} 1"), "{metrics}");
        assert!(metrics.contains("outcome=\"dead\"} 1"));

        // An operator re-queues it (`circlet inbox retry`); it runs again.
        app.store.requeue_dead(circlet::store::Requeue::AllDead, clock.now_millis()).await.unwrap();
        assert_eq!(app.worker.try_run_next().await.unwrap(), DrainStep::Worked(1));
        assert_eq!(calls.load(Ordering::SeqCst), max as usize + 1);
    }
}

#[tokio::test]
async fn a_permanent_failure_or_a_panic_parks_the_row_at_once_and_the_worker_goes_on() {
    for script in [Script::FailPermanent, Script::Panic] {
        let (app, calls) = app_with(TestDb::sqlite(), script, None).await;
        app.sender.event(&event("EvBad", "reaction_added")).await.unwrap();
        app.sender
            .event(&event("EvBad2", "reaction_added"))
            .await
            .unwrap();
        assert_eq!(app.worker.drain().await.unwrap(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let row = app.store.find_inbox_by_event_id("EvBad").await.unwrap().unwrap();
        assert_eq!((row.state, row.attempts), (InboxState::Dead, 1));
    }
}

#[tokio::test]
async fn rows_of_a_worker_that_died_are_taken_over_when_its_claim_lapses() {
    let clock = ManualClock::at_secs(1_763_900_000);
    let (app, calls) = app_with(TestDb::sqlite(), Script::Succeed, Some(clock.clone())).await;
    let body = event("EvOrphan", "reaction_added").to_string().into_bytes();
    let headers = app.sender.signed_headers(clock.now_secs(), &body);
    app.sender
        .post_with("/slack/events", circlet_testkit::sender::JSON, body, headers, &[])
        .await
        .unwrap();
    // A worker claims the row and dies without settling it.
    let lease = app.worker.settings().lease;
    let orphaned = app
        .store
        .claim_inbox(clock.now_millis(), lease, 10)
        .await
        .unwrap();
    assert_eq!(orphaned.rows.len(), 1);
    assert_eq!(app.worker.try_run_next().await.unwrap(), DrainStep::Empty);
    clock.advance_millis(lease.as_millis() as i64 + 1);
    assert_eq!(app.worker.try_run_next().await.unwrap(), DrainStep::Worked(1));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let row = app
        .store
        .find_inbox_by_event_id("EvOrphan")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.state, row.attempts), (InboxState::Done, 2));
}

#[tokio::test]
async fn shutdown_releases_rows_a_hung_handler_still_holds() {
    let (app, calls) = app_with(TestDb::sqlite(), Script::Hang, None).await;
    for n in 0..3 {
        app.sender
            .event(&event(&format!("EvHang{n}"), "reaction_added"))
            .await
            .unwrap();
    }
    let shutdown = CancellationToken::new();
    let worker: Worker = app.worker.clone();
    let running = tokio::spawn(worker.run(Arc::new(Notify::new()), shutdown.clone()));
    while calls.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.store.inbox_counts().await.unwrap().running, 3);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("worker stops after its grace")
        .unwrap();
    let rows = app.store.list_inbox(None, 10).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.state == InboxState::Pending && r.attempts == 0),
        "{rows:?}"
    );
}

#[tokio::test]
async fn background_workers_pick_up_new_rows_without_being_asked() {
    let calls = Arc::new(AtomicUsize::new(0));
    let handler_calls = calls.clone();
    let app = TestApp::builder(TestDb::sqlite())
        .background_workers()
        .handlers(move |_| {
            HandlerRegistry::new().with(
                InboxKind::Event,
                "reaction_added",
                Arc::new(Scripted {
                    script: Script::Succeed,
                    calls: handler_calls,
                }),
            )
        })
        .start()
        .await;
    for n in 0..20 {
        app.sender
            .event(&event(&format!("EvBg{n}"), "reaction_added"))
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.store.inbox_counts().await.unwrap().done < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "background workers did not drain the inbox"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 20);
}

#[tokio::test]
async fn finished_rows_are_pruned_after_the_retention_period() {
    let clock = ManualClock::at_secs(1_763_900_000);
    let settings = circlet::inbox::WorkerSettings {
        retention: Duration::from_secs(3600),
        prune_every: Duration::from_millis(1),
        ..TestApp::quick_worker_settings()
    };
    let app = TestApp::builder(TestDb::sqlite())
        .clock(clock.clone())
        .worker_settings(settings)
        .start()
        .await;
    let body = event("EvPrune", "member_left_channel").to_string().into_bytes();
    let headers = app.sender.signed_headers(clock.now_secs(), &body);
    app.sender
        .post_with("/slack/events", circlet_testkit::sender::JSON, body, headers, &[])
        .await
        .unwrap();
    app.worker.drain().await.unwrap();
    clock.advance_millis(3_600_001);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.worker.clone().run(Arc::new(Notify::new()), shutdown.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while app
        .store
        .find_inbox_by_event_id("EvPrune")
        .await
        .unwrap()
        .is_some()
    {
        assert!(std::time::Instant::now() < deadline, "not pruned");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
}

/// Posts into a channel through the Slack client, as a capture or status handler would.
struct PostsToSlack {
    slack: circlet::slack::SlackApi,
}

#[async_trait]
impl InboxHandler for PostsToSlack {
    async fn handle(&self, job: &Job) -> Result<(), HandlerError> {
        let request = slack_morphism::prelude::SlackApiChatPostMessageRequest::new(
            "C0CIRCLE".into(),
            slack_morphism::prelude::SlackMessageContent::new().with_text("thanks!".into()),
        );
        self.slack
            .post_message_once(&job.row.event_id, request, job.is_retry())
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_slack_outage_is_retried_then_parked_dead_and_a_recovery_posts_exactly_once() {
    let clock = ManualClock::at_secs(chrono::Utc::now().timestamp());
    let app = TestApp::builder(TestDb::sqlite())
        .clock(clock.clone())
        .handlers(|services| {
            HandlerRegistry::new().with(
                InboxKind::Event,
                "reaction_added",
                Arc::new(PostsToSlack {
                    slack: services.slack.clone(),
                }),
            )
        })
        .start()
        .await;
    let body = event("EvOutage", "reaction_added").to_string().into_bytes();
    let headers = app.sender.signed_headers(clock.now_secs(), &body);
    app.sender
        .post_with("/slack/events", circlet_testkit::sender::JSON, body, headers, &[])
        .await
        .unwrap();

    // Slack is down: every attempt of every job fails, the worker keeps going.
    app.fake
        .inject("*", circlet_testkit::fake_slack::Fault::ServerError, 10_000);
    let max = app.worker.settings().max_attempts;
    for _ in 0..max {
        assert_eq!(app.worker.try_run_next().await.unwrap(), DrainStep::Worked(1));
        clock.advance_millis(60 * 60 * 1000);
    }
    let row = app
        .store
        .find_inbox_by_event_id("EvOutage")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.state, row.attempts), (InboxState::Dead, max));
    assert!(
        row.last_error.unwrap().contains("Slack unavailable"),
        "the error names the cause"
    );
    assert!(app.fake.messages("C0CIRCLE").is_empty());

    // Slack recovers; the operator re-queues the dead row and it posts exactly once.
    app.fake.clear_faults();
    assert_eq!(
        app.store
            .requeue_dead(circlet::store::Requeue::AllDead, clock.now_millis())
            .await
            .unwrap(),
        1
    );
    assert_eq!(app.worker.drain().await.unwrap(), 1);
    assert_eq!(
        app.store
            .find_inbox_by_event_id("EvOutage")
            .await
            .unwrap()
            .unwrap()
            .state,
        InboxState::Done
    );
    assert_eq!(app.fake.messages("C0CIRCLE").len(), 1);
}

on_both_backends! {
    /// Slack slow (each call takes longer than the lease): the batch renews its claim while it
    /// runs, so the other worker never takes its rows and nothing is acknowledged twice.
    async fn a_batch_that_outlives_its_lease_is_renewed_and_no_row_runs_twice(db: TestDb) {
        use crate::helpers::circle::{CIRCLE, make_circle, message, reaction, send};
        let lease = Duration::from_millis(300);
        let app = TestApp::builder(db)
            .worker_settings(WorkerSettings { lease, ..TestApp::quick_worker_settings() })
            .slack_settings(circlet::slack::SlackClientSettings {
                timeout: Duration::from_secs(5),
                ..TestApp::quick_slack_settings()
            })
            .start()
            .await;
        make_circle(&app, CIRCLE).await;
        app.bot_identity().await;
        app.fake.inject("reactions.add", circlet_testkit::fake_slack::Fault::Slow(lease * 4), 100);
        let messages = 6;
        let events: Vec<_> = (0..messages)
            .flat_map(|i| {
                let ts = format!("1700000000.{i:06}");
                [
                    message("U0MAYA", CIRCLE, &ts, &format!("Idea {i}"), None),
                    reaction(true, "U0LEA", "bulb", CIRCLE, &ts, "U0MAYA", i as u32 + 1),
                ]
            })
            .collect();
        send(&app, &events).await;

        let (wake, shutdown) = (Arc::new(Notify::new()), CancellationToken::new());
        let workers: Vec<_> = (0..2)
            .map(|_| tokio::spawn(app.worker.clone().run(wake.clone(), shutdown.clone())))
            .collect();
        tokio::time::timeout(Duration::from_secs(30), async {
            while app.store.inbox_counts().await.unwrap().unfinished() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the inbox drains");
        shutdown.cancel();
        for worker in workers {
            worker.await.unwrap();
        }
        assert_eq!(
            app.fake.calls_to("reactions.add").len(),
            messages,
            "each capture acknowledged once"
        );
        let rows = app.store.list_inbox(None, 100).await.unwrap();
        assert!(rows.iter().all(|r| r.attempts == 1), "no row ran twice: {rows:?}");
    }
}

on_both_backends! {
    /// A process killed mid-batch, restarted on the same host and port, runs the rows it had
    /// claimed at once instead of sitting out their lease. On PostgreSQL another replica's
    /// claims stay theirs; on SQLite one process owns the file, so every claim was its own.
    async fn a_restarted_process_takes_back_the_rows_it_was_running(db: TestDb) {
        let clock = ManualClock::at_secs(1_763_900_000);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let store = db.store().await;
        store
            .insert_inbox(&[
                circlet::inbox::NewInboxItem {
                    team_id: "T0CIRCLE".into(),
                    event_id: "EvMine".into(),
                    kind: InboxKind::Event,
                    event_type: "reaction_added".into(),
                    payload: event("EvMine", "reaction_added").to_string(),
                    received_at: clock.now_millis(),
                },
                circlet::inbox::NewInboxItem {
                    team_id: "T0CIRCLE".into(),
                    event_id: "EvOtherReplica".into(),
                    kind: InboxKind::Event,
                    event_type: "reaction_added".into(),
                    payload: event("EvOtherReplica", "reaction_added").to_string(),
                    received_at: clock.now_millis() + 1,
                },
            ])
            .await
            .unwrap();
        let lease = Duration::from_secs(120);
        let mine = store
            .claim_inbox_as(&circlet::app::claim_owner(port), clock.now_millis(), lease, 1)
            .await
            .unwrap();
        assert_eq!(mine.rows[0].event_id, "EvMine");
        let theirs = store.claim_inbox_as("another-host:3000", clock.now_millis() + 1, lease, 1).await.unwrap();
        assert_eq!(theirs.rows[0].event_id, "EvOtherReplica");
        store.close().await;

        let calls = Arc::new(AtomicUsize::new(0));
        let handler_calls = calls.clone();
        let app = TestApp::builder(db)
            .clock(clock.clone())
            .env("CIRCLET_BIND", &format!("127.0.0.1:{port}"))
            .handlers(move |_| {
                HandlerRegistry::new().with(
                    InboxKind::Event,
                    "reaction_added",
                    Arc::new(Scripted { script: Script::Succeed, calls: handler_calls }),
                )
            })
            .start()
            .await;
        let expected = match app.db.backend {
            crate::helpers::Backend::Postgres => 1,
            crate::helpers::Backend::Sqlite => 2,
        };
        assert_eq!(app.worker.try_run_next().await.unwrap(), DrainStep::Worked(expected), "without waiting out the lease");
        assert_eq!(calls.load(Ordering::SeqCst), expected);
        let done = app.store.find_inbox_by_event_id("EvMine").await.unwrap().unwrap();
        assert_eq!((done.state, done.attempts), (InboxState::Done, 2), "the killed run's attempt still counts");
    }
}

on_both_backends! {
    /// Slack unreachable at start: rows wait to learn their workspace without spending
    /// attempts (however long it takes), and run once Slack answers.
    async fn rows_wait_for_slack_to_name_the_workspace_without_spending_attempts(db: TestDb) {
        let clock = ManualClock::at_secs(1_763_900_000);
        let app = TestApp::builder(db)
            .clock(clock.clone())
            .fault_from_start("auth.test", circlet_testkit::fake_slack::Fault::ServerError, 1_000)
            .start()
            .await;
        for n in 0..3 {
            let body = event(&format!("EvEarly{n}"), "reaction_added").to_string().into_bytes();
            let headers = app.sender.signed_headers(clock.now_secs(), &body);
            let answer = app.sender.post_with("/slack/events", circlet_testkit::sender::JSON, body, headers, &[]).await.unwrap();
            assert_eq!(answer.status, 200);
        }
        let max_attempts = app.worker.settings().max_attempts;
        for _ in 0..max_attempts * 2 {
            app.worker.drain().await.unwrap();
            clock.advance_millis(60_000);
        }
        let rows = app.store.list_inbox(None, 10).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter().all(|r| r.state == InboxState::Pending && r.attempts == 0),
            "waiting spends no attempt: {rows:?}"
        );

        app.fake.clear_faults();
        clock.advance_millis(60_000);
        assert_eq!(app.worker.drain().await.unwrap(), 3);
        let counts = app.store.inbox_counts().await.unwrap();
        assert_eq!((counts.done, counts.dead), (3, 0));
    }
}
