//! Purging a workspace: every table is covered, `workspaces remove` and uninstalls alike.

use circlet::clock::ManualClock;
use circlet::store::workspaces::purged_tables;
use serde_json::json;

use super::{DAY_SECS, app_at, run_privacy};
use crate::helpers::circle::{self, TEAM};
use crate::helpers::ids::team;
use crate::helpers::schema::{fill_every_table, names_a_workspace, rows_naming, tables};
use crate::helpers::{TestApp, TestDb};
use crate::on_both_backends;

on_both_backends! {
    /// A table added later with a workspace or insight column fails this until it is purged too.
    async fn every_table_naming_a_workspace_is_in_the_purge_list(db: TestDb) {
        db.store().await;
        let purged: Vec<&str> = purged_tables().collect();
        let missing: Vec<String> = tables(&db)
            .await
            .into_iter()
            .filter(|(_, columns)| columns.iter().any(|c| names_a_workspace(&c.name)))
            .map(|(table, _)| table)
            .filter(|table| !purged.contains(&table.as_str()))
            .collect();
        assert!(missing.is_empty(), "not purged with their workspace: {missing:?}");
    }
}

on_both_backends! {
    async fn purging_a_workspace_leaves_no_row_of_it_in_any_table(db: TestDb) {
        let store = db.store().await;
        let filled = fill_every_table(&db, "T0GONE").await;
        fill_every_table(&db, "T0STAY").await;
        assert!(filled.len() >= 20, "{filled:?}");

        store.workspaces().purge_workspace(team("T0GONE")).await.unwrap();
        assert_eq!(rows_naming(&db, "T0GONE").await, Vec::<String>::new());
        let stay = rows_naming(&db, "T0STAY").await;
        for table in &filled {
            assert!(stay.iter().any(|at| at.starts_with(&format!("{table}."))), "{table} lost the other workspace's row");
        }
    }
}

fn uninstalled(event_id: &str) -> serde_json::Value {
    json!({
        "type": "event_callback", "team_id": TEAM, "api_app_id": "A0CIRCLET", "event_id": event_id,
        "event_time": 1_700_000_100,
        "authorizations": [{"team_id": TEAM, "user_id": circle::BOT, "is_bot": true}],
        "event": {"type": "app_uninstalled", "event_ts": "1700000100.000100"}
    })
}

/// A single-workspace app whose workspace has a row in every table.
async fn filled_app(db: TestDb, clock: &std::sync::Arc<ManualClock>, days: &str) -> TestApp {
    let app = app_at(db, clock, &[("CIRCLET_UNINSTALL_RETENTION_DAYS", days)]).await;
    fill_every_table(&app.db, TEAM).await;
    // Single-workspace mode has no installation row, and no uninstall yet.
    app.db
        .execute(&[
            "DELETE FROM installations".to_owned(),
            "DELETE FROM uninstalls".to_owned(),
        ])
        .await;
    app
}

on_both_backends! {
    async fn an_uninstalled_workspace_is_purged_once_its_retention_days_have_passed(db: TestDb) {
        let clock = ManualClock::at_secs(1_800_000_000);
        let app = filled_app(db, &clock, "30").await;
        circle::deliver(&app, &[uninstalled("EvGone")]).await;
        assert!(!rows_naming(&app.db, TEAM).await.is_empty(), "kept while the days run");

        clock.advance_millis(29 * DAY_SECS * 1000);
        run_privacy(&app).await;
        assert!(!rows_naming(&app.db, TEAM).await.is_empty(), "not before 30 days");

        clock.advance_millis(DAY_SECS * 1000 + 1);
        run_privacy(&app).await;
        assert_eq!(rows_naming(&app.db, TEAM).await, Vec::<String>::new());
        let run = app.store.privacy().last_run().await.unwrap().unwrap();
        assert_eq!(run.workspaces_purged, 1);
        let (status, body) = app.get("/readyz").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"workspaces_purged\":1"), "{body}");
    }
}

on_both_backends! {
    async fn with_no_retention_days_an_uninstall_purges_at_once(db: TestDb) {
        let clock = ManualClock::at_secs(1_800_000_000);
        let app = filled_app(db, &clock, "0").await;
        circle::deliver(&app, &[uninstalled("EvGoneNow")]).await;
        assert_eq!(rows_naming(&app.db, TEAM).await, Vec::<String>::new());
    }
}

on_both_backends! {
    /// Single-workspace mode: a token that works at start means the app was installed again.
    async fn a_working_token_at_start_cancels_a_pending_purge(db: TestDb) {
        let clock = ManualClock::at_secs(1_800_000_000);
        let app = filled_app(db, &clock, "30").await;
        circle::deliver(&app, &[uninstalled("EvGoneFirst")]).await;
        app.services.privacy().cancel_if_reinstalled().await.unwrap();

        clock.advance_millis(31 * DAY_SECS * 1000);
        run_privacy(&app).await;
        assert!(!rows_naming(&app.db, TEAM).await.is_empty(), "reinstalled: nothing purged");
    }
}

on_both_backends! {
    /// Multi-workspace mode: installing again clears `uninstalled_at`, so no purge is due.
    async fn installing_again_before_the_purge_cancels_it(db: TestDb) {
        let store = db.store().await;
        let installation = crate::workspace_store::installation("T0BACK", "sealed");
        store.workspaces().save_installation(&installation).await.unwrap();
        store.workspaces().mark_uninstalled(team("T0BACK"), 5_000).await.unwrap();
        let privacy = store.privacy();
        assert_eq!(privacy.uninstalled_before(5_000).await.unwrap(), [team("T0BACK").clone()]);

        store.workspaces().save_installation(&installation).await.unwrap();
        assert!(privacy.uninstalled_before(i64::MAX / 2).await.unwrap().is_empty());
        assert!(privacy.purge_uninstalled(team("T0BACK"), i64::MAX / 2).await.unwrap().is_none());
        assert!(store.workspaces().installation(team("T0BACK")).await.unwrap().is_some());
    }
}
