//! The unauthenticated operational endpoints (issue 21, item 3): `/readyz` and `/metrics` read
//! the database at most once per refresh interval however many probes arrive.

use circlet::ops::REFRESH_EVERY;

use crate::helpers::TestApp;
use crate::helpers::metrics::sample;
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
