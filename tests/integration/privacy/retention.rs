//! `CIRCLET_RETENTION_DAYS`: insights whose message is past it go with everything attached,
//! and what reports count stays exact.

use circlet::clock::ManualClock;

use super::{DAY_SECS, app_at, run_privacy};
use crate::helpers::circle::{self, CIRCLE, captured, edit, make_circle, message, reaction};
use crate::on_both_backends;

const START: i64 = 1_700_000_000;
const OLD: &str = "1700000000.000100";
const OLD_REPLY: &str = "1700000050.000100";

/// Rows of `table` belonging to no insight left, and rows in all.
async fn rows(app: &crate::helpers::TestApp, table: &str) -> (i64, i64) {
    let orphans = app
        .db
        .query_i64(&format!(
            "SELECT COUNT(*) FROM {table} WHERE insight_id NOT IN (SELECT id FROM insights)"
        ))
        .await;
    (
        orphans,
        app.db.query_i64(&format!("SELECT COUNT(*) FROM {table}")).await,
    )
}

on_both_backends! {
    async fn insights_past_retention_go_with_everything_attached_and_counts_stay_exact(db: TestDb) {
        let clock = ManualClock::at_secs(START);
        let app = app_at(db, &clock, &[("CIRCLET_RETENTION_DAYS", "30")]).await;
        make_circle(&app, CIRCLE).await;
        circle::deliver(&app, &[
            message("U0MAYA", CIRCLE, OLD, "Bigger bottles please", None),
            reaction(true, "U0MAYA", "bulb", CIRCLE, OLD, "U0MAYA", 1),
            reaction(true, "U0OMAR", "+1", CIRCLE, OLD, "U0MAYA", 2),
            message("U0OMAR", CIRCLE, OLD_REPLY, "Yes, agreed", Some(OLD)),
            edit(CIRCLE, OLD, "Bigger bottles, please!", 3),
        ]).await;
        let old = captured(&app, CIRCLE, OLD).await.expect("captured");
        assert_eq!((old.voters.len(), old.replies.len(), old.revisions.len()), (1, 1, 1));

        clock.advance_millis(40 * DAY_SECS * 1000);
        let recent = format!("{}.000100", START + 40 * DAY_SECS);
        circle::deliver(&app, &[
            message("U0MAYA", CIRCLE, &recent, "Travel size", None),
            reaction(true, "U0MAYA", "bug", CIRCLE, &recent, "U0MAYA", 4),
        ]).await;

        run_privacy(&app).await;
        assert!(captured(&app, CIRCLE, OLD).await.is_none(), "past retention");
        assert_eq!(captured(&app, CIRCLE, &recent).await.expect("kept").tags, ["bug"]);
        for table in ["insight_revisions", "insight_tags", "insight_sources", "votes", "replies", "status_changes"] {
            let (orphans, _) = rows(&app, table).await;
            assert_eq!(orphans, 0, "{table} keeps rows of a deleted insight");
        }
        assert_eq!(rows(&app, "votes").await.1 + rows(&app, "replies").await.1, 0);
        let cached = app
            .db
            .query_i64(&format!("SELECT COUNT(*) FROM messages WHERE ts IN ('{OLD}', '{OLD_REPLY}')"))
            .await;
        assert_eq!(cached, 0, "the cached message and its thread go too");
        let reacted = app.db.query_i64(&format!("SELECT COUNT(*) FROM reactions WHERE message_ts = '{OLD}'")).await;
        assert_eq!(reacted, 0);
        let old_days = START / DAY_SECS + 1;
        let activity = app.db.query_i64(&format!("SELECT COUNT(*) FROM member_activity WHERE day < {old_days}")).await;
        assert_eq!(activity, 0, "activity of expired days goes");
        // Reports and digests read these day counts: they must match the live insights.
        let counted = app.db.query_i64("SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM insight_days").await;
        assert_eq!(counted, app.db.query_i64("SELECT COUNT(*) FROM insights").await);
        assert_eq!(counted, 1);
        assert_eq!(app.db.query_i64("SELECT COUNT(*) FROM insight_days WHERE count <= 0").await, 0);

        let (status, body) = app.get("/readyz").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"insights_deleted\":1"), "{body}");
    }
}

/// Creates an insight on the message `ts` of the test circle.
async fn insight_at(tx: &mut dyn circlet::store::InsightTx, ts: &str) -> i64 {
    use circlet::store::{InsightSource, MessageRef, NewInsight};
    let message = MessageRef {
        team_id: crate::helpers::ids::team(circle::TEAM),
        channel_id: crate::helpers::ids::channel(CIRCLE),
        ts,
    };
    let new = NewInsight {
        message,
        thread_ts: None,
        author_id: Some(crate::helpers::ids::user("U0MAYA")),
        author_team_id: None,
        text: Some("an idea"),
        text_version: 0,
        source: InsightSource::Reaction,
        at: 1_000,
    };
    tx.create_insight(&new).await.unwrap().id
}

on_both_backends! {
    /// A merge moved the merged insight's votes and replies into its target: a shell merged into
    /// an expired insight goes with it, and an expired shell goes alone.
    async fn merged_insights_expire_with_their_target(db: TestDb) {
        let store = db.store().await;
        let mut tx = store.begin().await.unwrap();
        let (old_target, recent_shell) = (insight_at(tx.as_mut(), "1000.000001").await, insight_at(tx.as_mut(), "9000.000001").await);
        let (old_shell, recent_target) = (insight_at(tx.as_mut(), "1000.000002").await, insight_at(tx.as_mut(), "9000.000002").await);
        tx.merge(recent_shell, old_target, 2_000).await.unwrap();
        tx.merge(old_shell, recent_target, 2_000).await.unwrap();
        tx.commit().await.unwrap();

        let deleted = store.privacy().expire_insights(5_000_000).await.unwrap();
        assert_eq!(deleted, 3);
        let left = db.query_i64("SELECT COUNT(*) FROM insights").await;
        assert_eq!(left, 1);
        let kept = db.query_i64("SELECT id FROM insights").await;
        assert_eq!(kept, recent_target);
    }
}
