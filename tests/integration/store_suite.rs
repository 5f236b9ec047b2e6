//! The store contract, run against SQLite and PostgreSQL alike.

use std::time::Duration;

use circlet::inbox::{InboxKind, InboxState, NewInboxItem};
use circlet::store::{Requeue, Settlement};

use crate::helpers::TestDb;
use crate::on_both_backends;

const LEASE: Duration = Duration::from_secs(60);

fn item(event_id: &str, received_at: i64) -> NewInboxItem {
    NewInboxItem {
        team_id: "T0STORE".into(),
        event_id: event_id.into(),
        kind: InboxKind::Event,
        event_type: "reaction_added".into(),
        payload: format!(r#"{{"event_id":"{event_id}","text":"naïve 'quotes' \"and\" emoji 🎉"}}"#),
        received_at,
    }
}

fn items(prefix: &str, n: usize, received_at: i64) -> Vec<NewInboxItem> {
    (0..n)
        .map(|i| item(&format!("{prefix}{i:04}"), received_at))
        .collect()
}

on_both_backends! {
    async fn insert_stores_rows_verbatim_and_reports_duplicates(db: TestDb) {
        let store = db.store().await;
        let first = vec![item("Ev1", 1_000), item("Ev2", 1_000), item("Ev1", 1_000)];
        assert_eq!(store.insert_inbox(&first).await.unwrap(), 2, "the repeat within a batch is skipped");
        assert_eq!(store.insert_inbox(&[item("Ev2", 2_000), item("Ev3", 2_000)]).await.unwrap(), 1);
        let row = store.find_inbox_by_event_id("Ev1").await.unwrap().unwrap();
        assert_eq!(row.payload, item("Ev1", 0).payload);
        assert_eq!((row.team_id.as_str(), row.kind, row.event_type.as_str()), ("T0STORE", InboxKind::Event, "reaction_added"));
        assert_eq!((row.received_at, row.attempts, row.state), (1_000, 0, InboxState::Pending));
        assert!(store.find_inbox_by_event_id("Ev9").await.unwrap().is_none());
        assert_eq!(store.inbox_counts().await.unwrap().pending, 3);
    }
}

on_both_backends! {
    async fn large_batches_are_stored_in_one_call(db: TestDb) {
        let store = db.store().await;
        let batch = items("EvBig", 1_000, 5);
        assert_eq!(store.insert_inbox(&batch).await.unwrap(), 1_000);
        assert_eq!(store.insert_inbox(&batch).await.unwrap(), 0);
        assert_eq!(store.inbox_counts().await.unwrap().pending, 1_000);
    }
}

on_both_backends! {
    async fn claims_take_due_rows_once_and_count_attempts(db: TestDb) {
        let store = db.store().await;
        store.insert_inbox(&items("Ev", 5, 1_000)).await.unwrap();
        store.insert_inbox(&[item("EvLater", 9_000)]).await.unwrap();

        let first = store.claim_inbox(5_000, LEASE, 3).await.unwrap();
        assert_eq!(first.rows.len(), 3);
        assert!(first.rows.iter().all(|r| r.attempts == 1 && r.state == InboxState::Running));
        let second = store.claim_inbox(5_000, LEASE, 10).await.unwrap();
        assert_eq!(second.rows.len(), 2, "only the unclaimed due rows; EvLater is not due");
        assert_ne!(first.token, second.token);
        let mut ids: Vec<i64> = first.rows.iter().chain(&second.rows).map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 5);
        assert!(store.claim_inbox(5_000, LEASE, 10).await.unwrap().rows.is_empty());
        assert_eq!(store.inbox_counts().await.unwrap().running, 5);
    }
}

on_both_backends! {
    async fn concurrent_claimers_never_share_a_row(db: TestDb) {
        let store = db.store().await;
        store.insert_inbox(&items("EvC", 400, 1)).await.unwrap();
        let claimers = (0..8).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let claim = store.claim_inbox(10, LEASE, 7).await.unwrap();
                    if claim.rows.is_empty() {
                        return mine;
                    }
                    mine.extend(claim.rows.into_iter().map(|r| r.id));
                }
            })
        });
        let mut all: Vec<i64> = Vec::new();
        for claimer in claimers {
            all.extend(claimer.await.unwrap());
        }
        let total = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!((total, all.len()), (400, 400));
    }
}

on_both_backends! {
    async fn a_lapsed_claim_makes_the_row_due_again_and_the_old_claim_cannot_settle_it(db: TestDb) {
        let store = db.store().await;
        store.insert_inbox(&[item("EvLease", 0)]).await.unwrap();
        let dead_worker = store.claim_inbox(1_000, Duration::from_secs(10), 10).await.unwrap();
        assert!(store.claim_inbox(5_000, LEASE, 10).await.unwrap().rows.is_empty(), "claim still held");
        let rescuer = store.claim_inbox(11_001, LEASE, 10).await.unwrap();
        assert_eq!(rescuer.rows.len(), 1);
        assert_eq!(rescuer.rows[0].attempts, 2);

        let id = rescuer.rows[0].id;
        store.settle_inbox(&dead_worker.token, &[Settlement::Dead { id, error: "stale".into() }], 12_000).await.unwrap();
        assert_eq!(store.find_inbox_by_event_id("EvLease").await.unwrap().unwrap().state, InboxState::Running);
        store.settle_inbox(&rescuer.token, &[Settlement::Done { id }], 12_000).await.unwrap();
        assert_eq!(store.find_inbox_by_event_id("EvLease").await.unwrap().unwrap().state, InboxState::Done);
    }
}

on_both_backends! {
    async fn settlements_finish_reschedule_or_bury_rows(db: TestDb) {
        let store = db.store().await;
        store.insert_inbox(&[item("EvDone", 0), item("EvRetry", 0), item("EvDead", 0)]).await.unwrap();
        let claim = store.claim_inbox(100, LEASE, 10).await.unwrap();
        let id = |event: &str| claim.rows.iter().find(|r| r.event_id == event).unwrap().id;
        store
            .settle_inbox(
                &claim.token,
                &[
                    Settlement::Done { id: id("EvDone") },
                    Settlement::Retry { id: id("EvRetry"), run_after: 5_000, error: "slack 500".into() },
                    Settlement::Dead { id: id("EvDead"), error: "malformed".into() },
                ],
                200,
            )
            .await
            .unwrap();
        let retry = store.find_inbox_by_event_id("EvRetry").await.unwrap().unwrap();
        assert_eq!((retry.state, retry.last_error.as_deref()), (InboxState::Pending, Some("slack 500")));
        assert!(store.claim_inbox(4_999, LEASE, 10).await.unwrap().rows.is_empty(), "not due before run_after");
        assert_eq!(store.claim_inbox(5_000, LEASE, 10).await.unwrap().rows.len(), 1);
        let dead = store.find_inbox_by_event_id("EvDead").await.unwrap().unwrap();
        assert_eq!((dead.state, dead.last_error.as_deref()), (InboxState::Dead, Some("malformed")));
        let counts = store.inbox_counts().await.unwrap();
        assert_eq!((counts.done, counts.dead, counts.running), (1, 1, 1));
    }
}

on_both_backends! {
    async fn released_rows_return_to_the_queue_without_spending_an_attempt(db: TestDb) {
        let store = db.store().await;
        store.insert_inbox(&items("EvRel", 3, 0)).await.unwrap();
        let claim = store.claim_inbox(100, LEASE, 10).await.unwrap();
        let ids: Vec<i64> = claim.rows.iter().map(|r| r.id).collect();
        store.release_inbox(&claim.token, &ids, 150).await.unwrap();
        let again = store.claim_inbox(150, LEASE, 10).await.unwrap();
        assert_eq!(again.rows.len(), 3);
        assert!(again.rows.iter().all(|r| r.attempts == 1));
    }
}

on_both_backends! {
    async fn prune_deletes_only_finished_rows_past_retention(db: TestDb) {
        let store = db.store().await;
        store.insert_inbox(&[item("EvOld", 0), item("EvNew", 0), item("EvDeadOld", 0), item("EvOpen", 0)]).await.unwrap();
        let claim = store.claim_inbox(10, LEASE, 3).await.unwrap();
        let id = |event: &str| claim.rows.iter().find(|r| r.event_id == event).map(|r| r.id);
        let (old, dead) = (id("EvOld").unwrap(), id("EvDeadOld").unwrap());
        store.settle_inbox(&claim.token, &[Settlement::Done { id: old }, Settlement::Dead { id: dead, error: "x".into() }], 1_000).await.unwrap();
        let new = id("EvNew").unwrap();
        store.settle_inbox(&claim.token, &[Settlement::Done { id: new }], 9_000).await.unwrap();

        assert_eq!(store.prune_inbox(5_000).await.unwrap(), 1);
        assert!(store.find_inbox_by_event_id("EvOld").await.unwrap().is_none());
        for kept in ["EvNew", "EvDeadOld", "EvOpen"] {
            assert!(store.find_inbox_by_event_id(kept).await.unwrap().is_some(), "{kept} kept");
        }
    }
}

on_both_backends! {
    async fn dead_rows_are_listed_and_requeued_one_or_all(db: TestDb) {
        let store = db.store().await;
        store.insert_inbox(&items("EvD", 3, 0)).await.unwrap();
        let claim = store.claim_inbox(10, LEASE, 10).await.unwrap();
        let dead: Vec<Settlement> = claim.rows.iter().map(|r| Settlement::Dead { id: r.id, error: "boom".into() }).collect();
        store.settle_inbox(&claim.token, &dead, 20).await.unwrap();

        let listed = store.list_inbox(Some(InboxState::Dead), 10).await.unwrap();
        assert_eq!(listed.len(), 3);
        assert!(listed.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        assert_eq!(store.list_inbox(Some(InboxState::Pending), 10).await.unwrap().len(), 0);

        assert_eq!(store.requeue_dead(Requeue::One(listed[0].id), 30).await.unwrap(), 1);
        assert_eq!(store.requeue_dead(Requeue::One(listed[0].id), 30).await.unwrap(), 0, "no longer dead");
        assert_eq!(store.requeue_dead(Requeue::AllDead, 30).await.unwrap(), 2);
        let claim = store.claim_inbox(30, LEASE, 10).await.unwrap();
        assert_eq!(claim.rows.len(), 3);
        assert!(claim.rows.iter().all(|r| r.attempts == 1), "a fresh attempt budget");
    }
}

on_both_backends! {
    async fn migrations_are_idempotent_and_ping_answers(db: TestDb) {
        let store = db.store().await;
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        let again = db.store().await;
        again.ping().await.unwrap();
    }
}

/// SQLite's commits never checkpoint (`wal_autocheckpoint=0`), so that none stalls on one:
/// `maintain` (and the background copy other writers' commits start) copy the WAL back, and the
/// next commit starts it over. Without them the WAL would grow by every commit's pages; with
/// them it grows by a few rounds' worth at most, however many rounds come. (Measured against the
/// first round's growth, not against a run without `maintain`: the background copy makes that
/// one's size a matter of timing.)
#[tokio::test]
async fn sqlite_maintenance_checkpoints_the_wal_so_it_is_reused() {
    const ROUNDS: usize = 24;
    let db = TestDb::sqlite();
    let store = db.store().await;
    let wal = format!("{}-wal", db.url.trim_start_matches("sqlite://"));
    let wal_bytes = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    // The migrations' pages are already in it.
    let at_start = wal_bytes();
    let mut first_round = 0;
    for round in 0..ROUNDS {
        let before = wal_bytes();
        store
            .insert_inbox(&items(&format!("EvWal{round}x"), 400, 1))
            .await
            .unwrap();
        if round == 0 {
            first_round = wal_bytes() - before;
        }
        store.maintain().await.unwrap();
    }
    let grown = wal_bytes().saturating_sub(at_start);
    store.close().await;
    assert!(first_round > 0);
    assert!(
        grown < 4 * first_round,
        "the WAL grew by {grown} B over {ROUNDS} rounds of {first_round} B each: it is not reused"
    );
}

/// After a burst, the WAL file does not keep its peak size: once no commit came for a while,
/// upkeep truncates it.
#[tokio::test]
async fn sqlite_upkeep_truncates_the_wal_once_writes_stop() {
    use circlet::store::{InboxStore, SqliteStore, Store};
    let db = TestDb::sqlite();
    db.store().await.close().await;
    let store = SqliteStore::connect(&db.url)
        .await
        .unwrap()
        .truncate_wal_when_idle_for(Duration::from_millis(300));
    let wal = format!("{}-wal", db.url.trim_start_matches("sqlite://"));
    let wal_bytes = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    for round in 0..8 {
        store
            .insert_inbox(&items(&format!("EvBurst{round}x"), 500, 1))
            .await
            .unwrap();
    }
    store.maintain().await.unwrap();
    assert!(wal_bytes() > 0, "the burst's WAL is still there right after it");
    tokio::time::sleep(Duration::from_millis(400)).await;
    store.maintain().await.unwrap();
    assert_eq!(wal_bytes(), 0, "truncated once writes stopped");
    store.insert_inbox(&[item("EvAfter", 2)]).await.unwrap();
    assert_eq!(store.inbox_counts().await.unwrap().pending, 4_001);
    store.close().await;
}

on_both_backends! {
    async fn circles_are_switched_on_and_off_per_workspace_and_changes_are_reported(db: TestDb) {
        use circlet::store::CircleChange;
        let store = db.store().await;
        let change = |team, channel, active, at| CircleChange { team_id: crate::helpers::ids::team(team), channel_id: crate::helpers::ids::channel(channel), active, changed_by: Some(crate::helpers::ids::user("U0CM")), at };
        assert!(store.set_circle(&change("T1", "C1", true, 10)).await.unwrap(), "added");
        assert!(!store.set_circle(&change("T1", "C1", true, 20)).await.unwrap(), "already a circle");
        assert!(store.set_circle(&change("T1", "C2", true, 30)).await.unwrap());
        assert!(store.set_circle(&change("T2", "C1", true, 40)).await.unwrap(), "another workspace's C1");
        assert!(store.is_circle(crate::helpers::ids::team("T1"), crate::helpers::ids::channel("C1")).await.unwrap());
        assert!(!store.is_circle(crate::helpers::ids::team("T1"), crate::helpers::ids::channel("C9")).await.unwrap());

        assert!(store.set_circle(&change("T1", "C1", false, 50)).await.unwrap(), "removed");
        assert!(!store.set_circle(&change("T1", "C1", false, 60)).await.unwrap(), "already removed");
        assert!(!store.is_circle(crate::helpers::ids::team("T1"), crate::helpers::ids::channel("C1")).await.unwrap());
        assert!(store.is_circle(crate::helpers::ids::team("T2"), crate::helpers::ids::channel("C1")).await.unwrap(), "workspaces never mix");

        let circles = store.circles(crate::helpers::ids::team("T1")).await.unwrap();
        let listed: Vec<(&str, bool)> = circles.iter().map(|c| (c.channel_id.as_str(), c.active)).collect();
        assert_eq!(listed, vec![("C2", true), ("C1", false)], "active first");
        assert_eq!((circles[1].updated_at, circles[1].changed_by.as_ref().map(|id| id.as_str())), (50, Some("U0CM")));
        assert!(store.circles(crate::helpers::ids::team("T3")).await.unwrap().is_empty());
    }
}

fn cached(ts: &str) -> circlet::store::CachedMessage {
    circlet::store::CachedMessage {
        team_id: crate::helpers::ids::team("T0STORE").clone(),
        channel_id: crate::helpers::ids::channel("C0STORE").clone(),
        ts: ts.into(),
        user_id: Some(crate::helpers::ids::user("U0MAYA").clone()),
        text: format!("message {ts}"),
        thread_ts: None,
        user_team_id: None,
    }
}

on_both_backends! {
    async fn the_message_cache_forgets_old_messages_but_not_captured_ones(db: TestDb) {
        use circlet::store::{InsightSource, MessageRef, NewInsight};
        let store = db.store().await;
        let mut tx = store.begin().await.unwrap();
        for (ts, seen_at) in [("1.000001", 1_000), ("1.000002", 1_000), ("1.000003", 9_000)] {
            tx.put_message(&cached(ts), seen_at).await.unwrap();
        }
        let at = |ts| MessageRef { team_id: crate::helpers::ids::team("T0STORE"), channel_id: crate::helpers::ids::channel("C0STORE"), ts };
        tx.create_insight(&NewInsight {
            message: at("1.000002"),
            thread_ts: None,
            author_id: Some(crate::helpers::ids::user("U0MAYA")),
            author_team_id: None,
            text: Some("message 1.000002"),
            text_version: 0,
            source: InsightSource::Reaction,
            at: 1_000,
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();

        assert_eq!(store.prune_messages(5_000).await.unwrap(), 1);
        let mut tx = store.begin().await.unwrap();
        assert!(tx.message(at("1.000001")).await.unwrap().is_none(), "old and never captured");
        assert!(tx.message(at("1.000002")).await.unwrap().is_some(), "captured: kept for replies and edits");
        assert!(tx.message(at("1.000003")).await.unwrap().is_some(), "recent");
    }
}

on_both_backends! {
    /// Members editing a message over and over keep at most ten earlier texts.
    async fn an_insight_keeps_only_its_ten_latest_revisions(db: TestDb) {
        use circlet::store::{InsightSource, MAX_REVISIONS, MessageRef, NewInsight};
        let store = db.store().await;
        let mut tx = store.begin().await.unwrap();
        let at = MessageRef { team_id: crate::helpers::ids::team("T0STORE"), channel_id: crate::helpers::ids::channel("C0STORE"), ts: "3.000001" };
        let insight = tx
            .create_insight(&NewInsight {
                message: at,
                thread_ts: None,
                author_id: Some(crate::helpers::ids::user("U0MAYA")),
                author_team_id: None,
                text: Some("text 0"),
                text_version: 0,
                source: InsightSource::Reaction,
                at: 1_000,
            })
            .await
            .unwrap();
        for edit in 1..=25 {
            assert!(tx.set_text(insight.id, &format!("text {edit}"), edit, 1_000 + edit).await.unwrap());
        }
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let kept = tx.revisions(insight.id).await.unwrap();
        let newest: Vec<String> = (15..25).map(|n| format!("text {n}")).collect();
        assert_eq!(kept.len() as i64, MAX_REVISIONS);
        assert_eq!(kept, newest, "the newest earlier texts, oldest first");
        assert_eq!(tx.insight(insight.id).await.unwrap().unwrap().text.as_deref(), Some("text 25"));
    }
}

on_both_backends! {
    /// Reaction rows stay while a capture could still count them (their message is cached or
    /// captured) and are pruned, old ones only, once nothing needs them.
    async fn reactions_nothing_needs_are_pruned(db: TestDb) {
        use circlet::store::{InsightSource, MessageRef, NewInsight, ReactionChange};
        let store = db.store().await;
        let at = |ts| MessageRef { team_id: crate::helpers::ids::team("T0STORE"), channel_id: crate::helpers::ids::channel("C0STORE"), ts };
        let mut tx = store.begin().await.unwrap();
        tx.put_message(&cached("4.000002"), 1_000).await.unwrap();
        tx.create_insight(&NewInsight {
            message: at("4.000003"),
            thread_ts: None,
            author_id: Some(crate::helpers::ids::user("U0MAYA")),
            author_team_id: None,
            text: Some("captured"),
            text_version: 0,
            source: InsightSource::Reaction,
            at: 1_000,
        })
        .await
        .unwrap();
        // Old (event_ts in microseconds, before 5 s) on: an uncached, uncaptured message; a
        // cached one; a captured one. And a recent one on an uncached message.
        for (ts, event_ts) in [("4.000001", 1_000_000), ("4.000002", 1_000_000), ("4.000003", 1_000_000), ("4.000004", 9_000_000)] {
            for user in ["U0LEA", "U0SAM"] {
                let change = ReactionChange { message: at(ts), user_id: crate::helpers::ids::user(user), emoji: "+1", present: true, event_ts };
                assert!(tx.set_reaction(&change).await.unwrap());
            }
        }
        tx.commit().await.unwrap();

        assert_eq!(store.prune_reactions(5_000).await.unwrap(), 2);
        let mut tx = store.begin().await.unwrap();
        assert!(tx.reactions_on(at("4.000001")).await.unwrap().is_empty(), "old, and nothing needs it");
        for kept in ["4.000002", "4.000003", "4.000004"] {
            assert_eq!(tx.reactions_on(at(kept)).await.unwrap().len(), 2, "{kept}");
        }
    }
}

on_both_backends! {
    /// A large prune runs as many short deletes, all of them.
    async fn prunes_after_a_long_downtime_remove_everything_due_in_slices(db: TestDb) {
        let store = db.store().await;
        let n = circlet::store::PRUNE_SLICE * 2 + 7;
        db.execute(&[format!(
            "INSERT INTO messages (team_id, channel_id, ts, user_id, text, seen_at) \
             SELECT 'T0STORE', 'C0STORE', 'old.' || g, 'U0MAYA', 'old message', 1 \
             FROM {}",
            numbers(db.backend, n)
        )])
        .await;
        assert_eq!(store.prune_messages(5_000).await.unwrap(), n as u64);
        assert_eq!(store.prune_messages(5_000).await.unwrap(), 0);
    }
}

/// A FROM item of one column `g` numbering 1..=n, for either backend.
fn numbers(backend: crate::helpers::Backend, n: i64) -> String {
    match backend {
        crate::helpers::Backend::Postgres => format!("generate_series(1, {n}) AS numbers(g)"),
        crate::helpers::Backend::Sqlite => format!(
            "(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) SELECT g FROM s) AS numbers"
        ),
    }
}

/// The inbox writer is not held up behind a large message-cache prune: it commits between
/// the prune's slices (one long delete would hold SQLite's only writer to the end).
#[tokio::test]
async fn sqlite_acknowledgements_go_between_the_slices_of_a_large_prune() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let n = 200_000;
    db.execute(&[format!(
        "INSERT INTO messages (team_id, channel_id, ts, user_id, text, seen_at) \
         SELECT 'T0STORE', 'C0STORE', 'old.' || g, 'U0MAYA', 'an old message of some length', 1 \
         FROM {}",
        numbers(db.backend, n)
    )])
    .await;
    let remaining = || db.query_i64("SELECT COUNT(*) FROM messages");
    let prune = {
        let store = store.clone();
        tokio::spawn(async move { store.prune_messages(5_000).await.unwrap() })
    };
    while remaining().await == n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut appender = store.inbox_appender().await.unwrap();
    appender.append(&[item("EvDuringPrune", 1)]).await.unwrap();
    drop(appender);
    let left = remaining().await;
    assert!(left > 0, "the acknowledgement waited for the whole prune");
    assert_eq!(prune.await.unwrap(), n as u64);
}

on_both_backends! {
    async fn a_transaction_dropped_without_commit_leaves_nothing(db: TestDb) {
        use circlet::store::MessageRef;
        let store = db.store().await;
        let mut tx = store.begin().await.unwrap();
        tx.put_message(&cached("2.000001"), 1_000).await.unwrap();
        drop(tx);
        let mut tx = store.begin().await.unwrap();
        let at = MessageRef { team_id: crate::helpers::ids::team("T0STORE"), channel_id: crate::helpers::ids::channel("C0STORE"), ts: "2.000001" };
        assert!(tx.message(at).await.unwrap().is_none());
    }
}

on_both_backends! {
    async fn interactions_and_commands_are_claimed_ahead_of_an_event_backlog(db: TestDb) {
        let store = db.store().await;
        store.insert_inbox(&items("EvBacklog", 300, 1_000)).await.unwrap();
        let mut shortcut = item("interaction:T1", 2_000);
        shortcut.kind = InboxKind::Interaction;
        shortcut.event_type = "message_action".into();
        let mut command = item("command:T2", 2_000);
        command.kind = InboxKind::Command;
        command.event_type = "status".into();
        store.insert_inbox(&[shortcut, command]).await.unwrap();

        let claim = store.claim_inbox(3_000, LEASE, 64).await.unwrap();
        let kinds: Vec<InboxKind> = claim.rows.iter().map(|row| row.kind).collect();
        assert!(kinds.contains(&InboxKind::Interaction) && kinds.contains(&InboxKind::Command));
        assert_eq!(kinds.iter().filter(|k| **k == InboxKind::Event).count(), 64, "and the oldest events");
        assert_eq!(store.inbox_counts().await.unwrap().running, 66);
    }
}
