//! The inbox writer's hold on the write connection: back-to-back commits on one connection,
//! kept across a moment's empty queue, shared fairly with everything else that writes, on a
//! thread of its own, and (SQLite) a WAL that starts over instead of growing while commits keep
//! coming.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use circlet::inbox::{InboxKind, InboxWriter, NewInboxItem};
use circlet::metrics::Metrics;
use circlet::store::CircleChange;
use tokio::sync::Notify;

use crate::helpers::Backend;
use crate::helpers::TestDb;
use crate::helpers::metrics::sample;
use crate::on_both_backends;

/// About the size of a real `reaction_added` delivery.
pub(crate) fn event(event_id: String) -> NewInboxItem {
    NewInboxItem {
        team_id: "T0WRITER".into(),
        payload: format!(
            r#"{{"type":"event_callback","event_id":"{event_id}","pad":"{}"}}"#,
            "x".repeat(600)
        ),
        event_id,
        kind: InboxKind::Event,
        event_type: "reaction_added".into(),
        received_at: 1_000,
    }
}

/// A write that needs the write connection, as `/feedback circle add #channel` makes.
fn circle_on(channel_id: &str) -> CircleChange<'static> {
    CircleChange {
        team_id: crate::helpers::ids::team("T0WRITER"),
        channel_id: crate::helpers::ids::channel(channel_id),
        active: true,
        changed_by: None,
        at: 1_000,
    }
}

on_both_backends! {
    async fn a_steady_stream_of_events_does_not_keep_other_writes_waiting(db: TestDb) {
        let store = db.store().await;
        let (writer, writer_task) = InboxWriter::spawn(store.clone(), Arc::new(Notify::new()), Metrics::new());
        let stop = Arc::new(AtomicBool::new(false));
        let stored = Arc::new(AtomicU64::new(0));
        // Enough concurrent senders that the writer's queue is hardly ever empty.
        let senders: Vec<_> = (0..96)
            .map(|lane| {
                let (writer, stop, stored) = (writer.clone(), stop.clone(), stored.clone());
                tokio::spawn(async move {
                    let mut sent = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        writer.write(event(format!("EvStream{lane:03}x{sent:06}"))).await.expect("stored");
                        sent += 1;
                        stored.fetch_add(1, Ordering::Relaxed);
                    }
                    sent
                })
            })
            .collect();
        // Well into the stream, however slowly a loaded machine runs it.
        let into = Instant::now();
        while stored.load(Ordering::Relaxed) < 1_000 && into.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let started = Instant::now();
        let change = circle_on("C0CIRCLE");
        let changed = tokio::time::timeout(Duration::from_secs(10), store.set_circle(&change))
            .await
            .expect("a write beside the event stream finished")
            .expect("set_circle");
        let waited = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let mut sent = 0;
        for sender in senders {
            sent += sender.await.expect("sender");
        }
        assert!(changed);
        assert!(sent > 1_000, "the stream kept the writer busy ({sent} events)");
        // The writer lets go every 10 ms; on a loaded machine a few turns may pass.
        assert!(waited < Duration::from_secs(2), "set_circle waited {waited:?} behind the event stream");
        assert_eq!(store.inbox_counts().await.unwrap().pending, sent);

        drop(writer);
        writer_task.await.expect("writer stops once every handle is gone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_starts_over_while_the_writer_keeps_committing() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let wal = format!("{}-wal", db.url.trim_start_matches("sqlite://"));
    let mut appender = store.inbox_appender().await.expect("appender");
    // 400 back-to-back commits of 20 events: about 3,600 WAL pages (14 MiB) if nothing were
    // checkpointed between them.
    for commit in 0..400 {
        let batch: Vec<_> = (0..20)
            .map(|i| event(format!("EvWal{commit:04}x{i:02}")))
            .collect();
        assert_eq!(appender.append(&batch).await.expect("append"), 20);
        appender.upkeep().await.expect("upkeep");
    }
    drop(appender);
    let wal_bytes = std::fs::metadata(&wal).expect("WAL file").len();
    assert!(
        wal_bytes < 4 * 1024 * 1024,
        "the WAL grew to {wal_bytes} bytes: it was never restarted"
    );
    assert_eq!(store.inbox_counts().await.unwrap().pending, 8_000);
}

/// The writer has a thread of its own: it commits even while every tokio worker is busy (here,
/// the only one, blocked on purpose), so HTTP work never stands between two commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn sqlite_writer_commits_while_every_tokio_worker_is_busy() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    let (writer, writer_task) = InboxWriter::spawn(store.clone(), Arc::new(Notify::new()), Metrics::new());
    // Taking the write turn may need a worker (sqlx returns a released connection to its pool
    // in a task): one ordinary write first, then time for the writer to give its turn back.
    writer.write(event("EvFirst".into())).await.expect("stored");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let blocker = {
        let writer = writer.clone();
        tokio::spawn(async move {
            // Queue the event (the first poll queues it), then keep this, the only worker, busy.
            use futures_util::FutureExt;
            let _ = writer.write(event("EvBusyWorker".into())).now_or_never();
            let reader = rusqlite::Connection::open(&path).expect("open");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                let rows: i64 = reader
                    .query_row(
                        "SELECT COUNT(*) FROM inbox WHERE event_id = 'EvBusyWorker'",
                        [],
                        |row| row.get(0),
                    )
                    .expect("count");
                if rows == 1 {
                    return Some(started.elapsed());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            None
        })
    };
    let committed = blocker.await.expect("blocker");
    assert!(
        committed.is_some(),
        "nothing was committed while the tokio worker was busy"
    );
    drop(writer);
    writer_task.await.expect("writer stops once every handle is gone");
}

on_both_backends! {
    async fn the_writer_keeps_the_connection_while_batches_follow_closely(db: TestDb) {
        let store = db.store().await;
        let metrics = Metrics::new();
        let (writer, writer_task) = InboxWriter::spawn(store.clone(), Arc::new(Notify::new()), metrics.clone());
        // One sender, each event sent as soon as the one before was stored: between two
        // commits the writer's queue is empty for a moment every time.
        let started = Instant::now();
        for i in 0..40 {
            writer.write(event(format!("EvClose{i:03}"))).await.expect("stored");
        }
        let took = started.elapsed();
        let turns = write_turns(&metrics);
        // It lets go after 10 ms held at the latest, so a few turns are expected; giving the
        // connection back at every empty queue took it for 20 to 40 of these commits.
        let allowed = took.as_millis() as u64 / 10 + 3;
        assert!(
            (1..=allowed).contains(&turns),
            "the writer took the write connection {turns} times for 40 commits in {took:?}"
        );

        // Out of work, it still lets go: another write gets the connection.
        let change = circle_on("C0CLOSE");
        let changed = tokio::time::timeout(Duration::from_secs(2), store.set_circle(&change))
            .await
            .expect("a write after the writer went idle finished")
            .expect("set_circle");
        assert!(changed);
        assert_eq!(store.inbox_counts().await.unwrap().pending, 40);

        drop(writer);
        writer_task.await.expect("writer stops once every handle is gone");
    }
}

fn write_turns(metrics: &Metrics) -> u64 {
    sample(&metrics.render(), "circlet_ingest_write_turns_total")
        .expect("circlet_ingest_write_turns_total in /metrics")
}

/// At most one other writer waits for the write connection ahead of the inbox writer, whatever
/// path it writes by: a worker's claim (through the runner) queued behind the other worker's
/// transaction waits behind the inbox writer too. With a queue of its own, the claim sat in
/// the pool's queue beside the transaction, and a commit, so every acknowledgement in it,
/// waited for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_claim_behind_a_transaction_waits_for_the_inbox_writer() {
    const HELD: Duration = Duration::from_millis(300);
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;

    let transaction = store.begin().await.expect("begin");
    let claim = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_inbox(1_000, Duration::from_secs(60), 10)
                .await
                .expect("claim");
            Instant::now()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let appender = store.inbox_appender().await.expect("appender");
            let taken = Instant::now();
            // Held, as across commits: a claim queued behind it finishes only after this.
            tokio::time::sleep(HELD).await;
            drop(appender);
            taken
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    transaction.commit().await.expect("commit");
    let taken = writer.await.expect("writer");
    let claimed = claim.await.expect("claim");
    // Had the claim gone first, it would have finished about when the writer took its turn.
    assert!(
        claimed >= taken + HELD - Duration::from_millis(50),
        "the claim finished {:?} after the inbox writer took its turn: it went first",
        claimed.saturating_duration_since(taken)
    );
}
