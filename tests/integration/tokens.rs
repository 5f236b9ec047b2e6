//! The export API's token check (issue 21, item 3): it only reads, from the read pool, so a flood
//! of bogus tokens never queues at SQLite's one write connection; a valid token's use is
//! written at most once a minute, off the request.

use std::time::Duration;

use circlet::clock::{Clock, ManualClock};
use circlet::domain::tokens;
use circlet::store::{SharedStore, TokenTeam};

use crate::helpers::insights::seed_insights;
use crate::helpers::{TestApp, eventually};
use crate::on_both_backends;

async fn get_insights(app: &TestApp, token: &str) -> u16 {
    app.http
        .get(format!("{}/api/v1/insights", app.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn last_used(store: &SharedStore) -> Option<i64> {
    store.tokens().tokens().await.unwrap()[0].last_used_at
}

on_both_backends! {
    async fn a_token_check_answers_while_the_write_connection_is_held(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let now = app.services.clock.now_millis();
        let valid = tokens::issue(app.store.tokens().as_ref(), "looker", None, now).await.unwrap().token;
        let prefix = valid.split('_').nth(1).unwrap().to_owned();

        // A transaction holds the store's write turn (on SQLite, its one write connection)
        // while tokens are checked: none of them may wait for it.
        let held = app.store.begin().await.unwrap();
        assert_eq!(get_insights(&app, "circlet_0bad_bogus").await, 401, "unknown token");
        assert_eq!(get_insights(&app, &format!("circlet_{prefix}_wrong")).await, 401, "wrong secret");
        assert_eq!(get_insights(&app, &valid).await, 200, "a valid token is answered too");
        drop(held);
        eventually(Duration::from_secs(10), || async { last_used(&app.store).await >= Some(now) }).await;
    }
}

on_both_backends! {
    async fn a_tokens_use_is_written_at_most_once_a_minute(db: TestDb) {
        let clock = ManualClock::at_secs(1_780_000_000);
        let app = TestApp::builder(db).clock(clock.clone()).start().await;
        let first = clock.now_millis();
        let valid = tokens::issue(app.store.tokens().as_ref(), "looker", None, first).await.unwrap().token;

        assert_eq!(get_insights(&app, &valid).await, 200);
        eventually(Duration::from_secs(10), || async { last_used(&app.store).await == Some(first) }).await;

        clock.advance_millis(30_000);
        assert_eq!(get_insights(&app, &valid).await, 200);
        assert_eq!(last_used(&app.store).await, Some(first), "half a minute later: not written again");

        clock.advance_millis(31_000);
        assert_eq!(get_insights(&app, &valid).await, 200);
        let later = clock.now_millis();
        eventually(Duration::from_secs(10), || async { last_used(&app.store).await == Some(later) }).await;
    }
}

on_both_backends! {
    async fn a_token_bound_to_text_that_is_no_team_id_is_listed_and_reads_nothing(db: TestDb) {
        // `circlet token create --team` took any text before team ids were checked. Such a
        // token must not fail the listing, nor read the database's only workspace as if unbound.
        let app = TestApp::spawn(db).await;
        seed_insights(&app.db, "T0CIRCLE", 3, 10).await;
        let unbound = app.api_token("any", None).await;
        let typo = app.api_token("typo", Some("T0CIRCLE")).await;
        app.db
            .execute(&["UPDATE api_tokens SET team_id = 't0circle' WHERE name = 'typo'".to_owned()])
            .await;

        let listed = app.store.tokens().tokens().await.unwrap();
        let teams: Vec<(&str, &TokenTeam)> = listed.iter().map(|t| (t.name.as_str(), &t.team)).collect();
        assert_eq!(
            teams,
            vec![("any", &TokenTeam::Unbound), ("typo", &TokenTeam::Unusable("t0circle".into()))]
        );
        assert_eq!(TokenTeam::Unusable("t0circle".into()).label(), "t0circle");
        assert_eq!(export_lines(&app, &unbound).await, 3, "the only workspace");
        assert_eq!(export_lines(&app, &typo).await, 0, "nothing");
    }
}

/// How many insights the JSON Lines export gives `token`.
async fn export_lines(app: &TestApp, token: &str) -> usize {
    let answer = app
        .http
        .get(format!("{}/api/v1/insights?format=jsonl", app.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.text().await.unwrap().lines().count()
}
