//! The unauthenticated operational endpoints (issue 21, item 3): `/readyz` and `/metrics` read
//! the database at most once per refresh interval however many probes arrive, and
//! `CIRCLET_OPS_BIND` moves them to a listener of their own.

use circlet::ops::REFRESH_EVERY;

use crate::helpers::metrics::sample;
use crate::helpers::{TestApp, TestDb, samples};
use crate::on_both_backends;

on_both_backends! {
    async fn a_flood_of_probes_reads_the_database_once_or_twice(db: TestDb) {
        let app = TestApp::builder(db).ops_refresh(REFRESH_EVERY).start().await;
        let probes = (0..64).map(|i| {
            let path = if i % 2 == 0 { "/metrics" } else { "/readyz" };
            app.get(path)
        });
        let answers = futures_util::future::join_all(probes).await;
        assert!(answers.iter().all(|(status, _)| *status == 200));
        let refreshes = answers
            .iter()
            .filter_map(|(_, body)| sample(body, "circlet_ops_refreshes_total"))
            .max()
            .expect("/metrics counts the refreshes");
        assert!(
            (1..=2).contains(&refreshes),
            "64 concurrent probes read the database {refreshes} times"
        );
    }
}

#[tokio::test]
async fn with_an_ops_listener_probes_and_metrics_are_served_there_and_only_there() {
    let app = TestApp::builder(TestDb::sqlite())
        .env("CIRCLET_OPS_BIND", "127.0.0.1:0")
        .start()
        .await;
    let ops = app.ops_url.clone().expect("a listener of their own");
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(app.get(path).await.0, 404, "{path} on the public listener");
        let answer = app.http.get(format!("{ops}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path} on the ops listener");
    }
    let challenge = samples::json("events", "url_verification__boltpy.json");
    assert_eq!(
        app.sender.event(&challenge).await.unwrap().status,
        200,
        "Slack stays public"
    );
    let on_ops = app
        .http
        .post(format!("{ops}/slack/events"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(on_ops.status(), 404, "and only public");
    assert!(
        app.metrics()
            .await
            .contains("circlet_http_requests_total{route=\"/slack/events\",status=\"200\"} 1"),
        "requests on both listeners are counted"
    );
}
