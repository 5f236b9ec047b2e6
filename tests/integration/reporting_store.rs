//! The store's reporting side (derived counts, export stream, report figures, API tokens), run
//! against SQLite and PostgreSQL alike.

use circlet::store::{
    Activity, ActivityKind, InsightFilter, InsightRow, InsightSource, InsightStatus, InsightTx, Membership,
    MembershipChange, MessageRef, Named, NewApiToken, NewInsight, Reply, SharedStore, TagSource, Window,
};
use futures_util::StreamExt;

use crate::helpers::ids;
use crate::helpers::insights::seed_insights;
use crate::on_both_backends;

const DAY: i64 = 86_400_000;

fn at<'a>(team: &'a str, channel: &'a str, ts: &'a str) -> MessageRef<'a> {
    MessageRef {
        team_id: crate::helpers::ids::team(team),
        channel_id: crate::helpers::ids::channel(channel),
        ts,
    }
}

async fn insight(
    tx: &mut dyn InsightTx,
    team: &str,
    channel: &str,
    ts: &str,
    author: &str,
    when: i64,
) -> i64 {
    tx.create_insight(&NewInsight {
        message: at(team, channel, ts),
        thread_ts: None,
        author_id: Some(crate::helpers::ids::user(author)),
        author_team_id: None,
        text: Some(&format!("feedback {ts}")),
        text_version: 0,
        source: InsightSource::Reaction,
        at: when,
    })
    .await
    .unwrap()
    .id
}

/// The export's rows, read both ways: streamed on one connection, and a page per query (the
/// HTTP API's), which must agree.
async fn export(store: &SharedStore, filter: InsightFilter) -> Vec<InsightRow> {
    let mut rows = Vec::new();
    let mut stream = store.reads().export(filter.clone());
    while let Some(batch) = stream.next().await {
        rows.extend(batch.unwrap());
    }
    let mut paged = Vec::new();
    let mut pages = store.reads().export_pages(filter);
    loop {
        let page = pages.next_page().await.unwrap();
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(paged, rows, "paged and streamed exports differ");
    rows
}

fn team(team: &str) -> InsightFilter {
    InsightFilter {
        team_id: Some(ids::team(team).clone()),
        ..InsightFilter::default()
    }
}

on_both_backends! {
    async fn tags_votes_and_replies_are_kept_on_the_insight_through_every_change(db: TestDb) {
        let store = db.store().await;
        let mut tx = store.begin().await.unwrap();
        let a = insight(tx.as_mut(), "T1", "C1", "1.000001", "U0AUTHOR", 1_000).await;
        let b = insight(tx.as_mut(), "T1", "C1", "1.000002", "U0OTHER", 1_000).await;
        tx.add_tag(a, "idea", TagSource::Reaction).await.unwrap();
        tx.add_tag(a, "idea", TagSource::Rule).await.unwrap();
        tx.add_tag(a, "bug", TagSource::Modal).await.unwrap();
        for voter in ["U1", "U2", "U3"] {
            tx.add_vote_on_message(crate::helpers::ids::user(voter), at("T1", "C1", "1.000001")).await.unwrap();
        }
        tx.remove_vote(crate::helpers::ids::user("U3"), at("T1", "C1", "1.000001")).await.unwrap();
        let reply = |ts: &str| Reply { channel_id: ids::channel("C1").clone(), ts: ts.into(), user_id: Some(ids::user("U1").clone()), text: "same".into() };
        tx.add_reply(a, &reply("1.000010")).await.unwrap();
        tx.add_reply(a, &reply("1.000011")).await.unwrap();
        tx.edit_reply(crate::helpers::ids::channel("C1"), "1.000011", None).await.unwrap();
        tx.add_tag(b, "pain-point", TagSource::Reaction).await.unwrap();
        tx.add_vote(b, crate::helpers::ids::user("U1"), at("T1", "C1", "1.000002")).await.unwrap();
        tx.add_vote(b, crate::helpers::ids::user("U4"), at("T1", "C1", "1.000002")).await.unwrap();
        tx.commit().await.unwrap();

        let rows = export(&store, team("T1")).await;
        let summary: Vec<(i64, &str, i64, i64)> = rows.iter().map(|r| (r.number, r.tags.as_str(), r.votes, r.replies)).collect();
        assert_eq!(summary, vec![(1, "bug;idea", 2, 1), (2, "pain-point", 2, 0)]);

        let mut tx = store.begin().await.unwrap();
        tx.merge(b, a, 2_000).await.unwrap();
        tx.remove_tag(a, "bug", TagSource::Modal).await.unwrap();
        tx.commit().await.unwrap();
        let rows = export(&store, team("T1")).await;
        let summary: Vec<(i64, &str, i64, i64)> = rows.iter().map(|r| (r.number, r.tags.as_str(), r.votes, r.replies)).collect();
        assert_eq!(summary, vec![(1, "idea;pain-point", 3, 1)], "U1 voted on both: counted once; #2 is merged away");
        let all = export(&store, InsightFilter { include_removed: true, ..team("T1") }).await;
        assert_eq!(all.len(), 2, "merged insights are there when asked for");
    }
}

on_both_backends! {
    async fn exports_filter_and_stream_every_row_in_order(db: TestDb) {
        let store = db.store().await;
        let mut tx = store.begin().await.unwrap();
        // Pages of the export hold 2,000 rows: these cross pages, and workspaces within a page.
        for i in 0..4_100 {
            let channel = if i % 2 == 0 { "C1" } else { "C2" };
            let id = insight(tx.as_mut(), "T1", channel, &format!("2.{i:06}"), "U0AUTHOR", i * DAY / 100).await;
            if i % 10 == 0 {
                tx.add_tag(id, "bug", TagSource::Reaction).await.unwrap();
            }
            if i == 7 {
                tx.change_status(id, InsightStatus::Shipped, Some(crate::helpers::ids::user("U0PM")), 5).await.unwrap();
            }
            if i == 9 {
                tx.mark_deleted(id, 5).await.unwrap();
            }
        }
        for i in 0..2_100 {
            insight(tx.as_mut(), "T2", "C1", &format!("3.{i:06}"), "U0ELSEWHERE", 0).await;
        }
        tx.commit().await.unwrap();

        let rows = export(&store, team("T1")).await;
        assert_eq!(rows.len(), 4_099, "the deleted one is left out");
        assert!(rows.windows(2).all(|w| w[0].number < w[1].number), "in number order, across batches");
        assert!(rows.iter().all(|r| r.team_id == "T1"), "another workspace's insights never appear");

        let count = |filter: InsightFilter| {
            let store = store.clone();
            async move { export(&store, filter).await.len() }
        };
        assert_eq!(count(InsightFilter { channel_id: Some(ids::channel("C1").clone()), ..team("T1") }).await, 2_050);
        assert_eq!(count(InsightFilter { tag: Some("bug".into()), ..team("T1") }).await, 410);
        let shipped = export(&store, InsightFilter { status: Some(InsightStatus::Shipped), ..team("T1") }).await;
        assert_eq!(shipped.iter().map(|r| r.number).collect::<Vec<_>>(), vec![8]);
        assert_eq!(count(InsightFilter { since: Some(10 * DAY), until: Some(11 * DAY), ..team("T1") }).await, 100);
        assert_eq!(count(InsightFilter { after_number: Some(1_000), ..team("T1") }).await, 3_100);
        assert_eq!(count(InsightFilter { include_removed: true, ..team("T1") }).await, 4_100);
        let everything = export(&store, InsightFilter::default()).await;
        assert_eq!(everything.len(), 4_099 + 2_100, "an operator export reads every workspace");
        let keys: Vec<(&str, i64)> = everything.iter().map(|r| (r.team_id.as_str(), r.number)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "by workspace then number, none twice");
        assert_eq!(everything[4_099].team_id, "T2");
        assert_eq!(everything.last().map(|r| r.number), Some(2_100));
    }
}

on_both_backends! {
    async fn exported_rows_carry_names_and_a_permalink_once_known(db: TestDb) {
        use circlet::store::CircleChange;
        let store = db.store().await;
        store.set_circle(&CircleChange { team_id: crate::helpers::ids::team("T1"), channel_id: crate::helpers::ids::channel("C1"), active: true, changed_by: None, at: 1 }).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        insight(tx.as_mut(), "T1", "C1", "1700000000.000100", "U0MAYA", 1_000).await;
        tx.commit().await.unwrap();
        let row = export(&store, team("T1")).await.remove(0);
        assert_eq!((row.channel_name.as_deref(), row.author_name.as_deref(), row.permalink()), (None, None, None));

        let mut tx = store.begin().await.unwrap();
        assert!(!tx.has_name(Named::Person { team_id: crate::helpers::ids::team("T1"), user_id: crate::helpers::ids::user("U0MAYA") }).await.unwrap());
        tx.set_name(Named::Person { team_id: crate::helpers::ids::team("T1"), user_id: crate::helpers::ids::user("U0MAYA") }, "Maya", 2).await.unwrap();
        tx.set_name(Named::Channel { team_id: crate::helpers::ids::team("T1"), channel_id: crate::helpers::ids::channel("C1") }, "vip-circle", 2).await.unwrap();
        tx.set_name(Named::Workspace { team_id: crate::helpers::ids::team("T1") }, "https://acme.slack.com/", 2).await.unwrap();
        assert!(tx.has_name(Named::Person { team_id: crate::helpers::ids::team("T1"), user_id: crate::helpers::ids::user("U0MAYA") }).await.unwrap());
        tx.commit().await.unwrap();
        let row = export(&store, team("T1")).await.remove(0);
        assert_eq!(row.channel_name.as_deref(), Some("vip-circle"));
        assert_eq!(row.author_name.as_deref(), Some("Maya"));
        assert_eq!(row.permalink().as_deref(), Some("https://acme.slack.com/archives/C1/p1700000000000100"));
    }
}

/// The breakdown summed by (current, status, tags), as a report reads it.
fn summed(groups: Vec<circlet::store::Breakdown>) -> std::collections::BTreeMap<(bool, String, String), i64> {
    let mut sums = std::collections::BTreeMap::new();
    for group in groups {
        *sums.entry((group.current, group.status, group.tags)).or_insert(0) += group.count;
    }
    sums.retain(|_, count| *count != 0);
    sums
}

on_both_backends! {
    async fn a_whole_workspace_breakdown_from_day_counts_matches_its_insights_through_every_change(db: TestDb) {
        let store = db.store().await;
        // Periods that start and end mid-day: whole days come from the day counts, the edges
        // from the insights.
        let window = Window { start: 20 * DAY + 7_000, end: 27 * DAY + 7_000 };
        let mut tx = store.begin().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..200i64 {
            let when = 12 * DAY + i * (DAY / 12) + i % 7;
            let id = insight(tx.as_mut(), "T1", if i % 3 == 0 { "C1" } else { "C2" }, &format!("4.{i:06}"), "U0A", when).await;
            if i % 4 == 0 {
                tx.add_tag(id, "bug", TagSource::Reaction).await.unwrap();
            }
            if i % 5 == 0 {
                tx.add_tag(id, "idea", TagSource::Modal).await.unwrap();
            }
            ids.push(id);
        }
        // Edges exactly: the first and last millisecond of each period and just outside.
        for (n, when) in [window.start - 1, window.start, window.end - 1, window.end, window.previous().start - 1, window.previous().start].into_iter().enumerate() {
            insight(tx.as_mut(), "T1", "C1", &format!("5.{n:06}"), "U0A", when).await;
        }
        insight(tx.as_mut(), "T2", "C1", "6.000001", "U0B", 22 * DAY).await;
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        for id in ids.iter().step_by(9) {
            tx.change_status(*id, InsightStatus::Planned, None, 30 * DAY).await.unwrap();
        }
        tx.merge(ids[101], ids[100], 30 * DAY).await.unwrap();
        tx.mark_deleted(ids[120], 30 * DAY).await.unwrap();
        tx.remove_tag(ids[140], "bug", TagSource::Reaction).await.unwrap();
        tx.add_tag(ids[141], "praise", TagSource::Modal).await.unwrap();
        tx.commit().await.unwrap();

        let reads = store.reads();
        for tag in [None, Some("bug"), Some("praise")] {
            let whole = InsightFilter { tag: tag.map(str::to_owned), ..team("T1") };
            let from_days = summed(reads.breakdown(&whole, window).await.unwrap());
            // Per circle the breakdown reads the insights themselves: the two must agree.
            let mut from_insights = std::collections::BTreeMap::new();
            for channel in ["C1", "C2"] {
                let circle = InsightFilter { channel_id: Some(ids::channel(channel).clone()), ..whole.clone() };
                for (key, count) in summed(reads.breakdown(&circle, window).await.unwrap()) {
                    *from_insights.entry(key).or_insert(0) += count;
                }
            }
            assert_eq!(from_days, from_insights, "tag {tag:?}");
            assert!(!from_days.is_empty());
        }
        let all = summed(reads.breakdown(&team("T1"), window).await.unwrap());
        let total: i64 = all.values().sum();
        let live_in_periods = export(&store, team("T1")).await.iter()
            .filter(|r| r.created_at >= window.previous().start && r.created_at < window.end).count() as i64;
        assert_eq!(total, live_in_periods, "merged and deleted insights are not counted");
    }
}

on_both_backends! {
    async fn report_figures_compare_the_period_with_the_one_before(db: TestDb) {
        use circlet::store::CircleChange;
        let store = db.store().await;
        for channel in ["C1", "C2"] {
            store.set_circle(&CircleChange { team_id: crate::helpers::ids::team("T1"), channel_id: crate::helpers::ids::channel(channel), active: true, changed_by: None, at: 0 }).await.unwrap();
        }
        let window = Window { start: 10 * DAY, end: 17 * DAY };
        let mut tx = store.begin().await.unwrap();
        // Three insights this week (two with votes), one the week before, one long ago.
        let hot = insight(tx.as_mut(), "T1", "C1", "3.000001", "U0MAYA", 11 * DAY).await;
        let warm = insight(tx.as_mut(), "T1", "C1", "3.000002", "U0LEO", 12 * DAY).await;
        insight(tx.as_mut(), "T1", "C2", "3.000003", "U0MAYA", 16 * DAY).await;
        insight(tx.as_mut(), "T1", "C1", "3.000004", "U0LEO", 5 * DAY).await;
        insight(tx.as_mut(), "T1", "C1", "3.000005", "U0LEO", DAY).await;
        tx.add_tag(hot, "bug", TagSource::Reaction).await.unwrap();
        tx.add_tag(hot, "idea", TagSource::Reaction).await.unwrap();
        for voter in ["U1", "U2", "U3"] {
            tx.add_vote(hot, crate::helpers::ids::user(voter), at("T1", "C1", "3.000001")).await.unwrap();
        }
        tx.add_vote(warm, crate::helpers::ids::user("U1"), at("T1", "C1", "3.000002")).await.unwrap();
        tx.change_status(warm, InsightStatus::Planned, None, 12 * DAY).await.unwrap();
        let activity = |user, kind, when| Activity { team_id: crate::helpers::ids::team("T1"), channel_id: crate::helpers::ids::channel("C1"), user_id: user, kind, at: when };
        for (user, kind, when) in [
            ("U0MAYA", ActivityKind::Post, 11 * DAY),
            ("U0MAYA", ActivityKind::Reaction, 11 * DAY + 5),
            ("U0LEO", ActivityKind::Reply, 13 * DAY),
            ("U1", ActivityKind::Reaction, 14 * DAY),
            ("U9", ActivityKind::Post, 4 * DAY),
        ] {
            tx.record_activity(&activity(crate::helpers::ids::user(user), kind, when)).await.unwrap();
        }
        let member = |user, change, when| Membership { team_id: crate::helpers::ids::team("T1"), channel_id: crate::helpers::ids::channel("C1"), user_id: user, change, at: when };
        for (user, change, when) in [
            ("U0MAYA", MembershipChange::Present, 0),
            ("U0LEO", MembershipChange::Present, 0),
            ("U1", MembershipChange::Joined, 11 * DAY),
            ("U9", MembershipChange::Present, 0),
            ("U9", MembershipChange::Left, 12 * DAY),
        ] {
            tx.set_membership(&member(crate::helpers::ids::user(user), change, when)).await.unwrap();
        }
        tx.commit().await.unwrap();

        let reads = store.reads();
        let mut breakdown = reads.breakdown(&team("T1"), window).await.unwrap();
        breakdown.sort_by(|a, b| (b.current, &a.status, &a.tags).cmp(&(a.current, &b.status, &b.tags)));
        let groups: Vec<(bool, &str, &str, i64)> =
            breakdown.iter().map(|b| (b.current, b.status.as_str(), b.tags.as_str(), b.count)).collect();
        assert_eq!(groups, vec![(true, "new", "", 1), (true, "new", "bug;idea", 1), (true, "planned", "", 1), (false, "new", "", 1)]);

        let top = reads.top_insights(&team("T1"), window, 2).await.unwrap();
        assert_eq!(top.iter().map(|r| (r.number, r.votes)).collect::<Vec<_>>(), vec![(1, 3), (2, 1)]);
        let c2 = InsightFilter { channel_id: Some(ids::channel("C2").clone()), ..team("T1") };
        assert_eq!(reads.top_insights(&c2, window, 5).await.unwrap().len(), 1);

        let engagement = reads.engagement(&InsightFilter { team_id: Some(ids::team("T1").clone()), ..InsightFilter::default() }, window, 2).await.unwrap();
        assert_eq!(engagement.len(), 2);
        let c1 = engagement.iter().find(|e| e.channel_id == "C1").unwrap();
        assert_eq!((c1.members, c1.new_members, c1.active, c1.active_before), (3, 1, 3, 1));
        let contributors: Vec<(&str, i64, i64)> =
            c1.contributors.iter().map(|c| (c.user_id.as_str(), c.insights, c.actions)).collect();
        assert_eq!(contributors, vec![("U0MAYA", 1, 2), ("U0LEO", 1, 1)], "most insights, then most active");
        let only_c2 = reads.engagement(&InsightFilter { team_id: Some(ids::team("T1").clone()), channel_id: Some(ids::channel("C2").clone()), ..InsightFilter::default() }, window, 3).await.unwrap();
        assert_eq!(only_c2.len(), 1);
        assert_eq!(only_c2[0].contributors[0].user_id, "U0MAYA");
    }
}

on_both_backends! {
    async fn a_stored_member_id_of_another_shape_reads_as_no_member_not_as_a_failed_read(db: TestDb) {
        // Authors and voters were copied from payloads unchecked before ids were typed: one odd
        // id costs its mention, not the export, the report, the digest or the capture.
        let store = db.store().await;
        seed_insights(&db, "T1", 2, 10).await;
        db.execute(&[
            "UPDATE insights SET author_id = 'alice' WHERE number = 1".to_owned(),
            "INSERT INTO circles (team_id, channel_id, active, changed_by, updated_at) \
             VALUES ('T1', 'C0CIRCLE', TRUE, NULL, 0)"
                .to_owned(),
        ])
        .await;
        let authors = |rows: Vec<InsightRow>| -> Vec<(i64, Option<String>)> {
            rows.into_iter().map(|r| (r.number, r.author_id.map(|a| a.as_str().to_owned()))).collect()
        };
        let expected = vec![(1, None), (2, Some("U0AUTHOR".to_owned()))];
        assert_eq!(authors(export(&store, team("T1")).await), expected);
        let window = Window { start: 0, end: 10 };
        let mut top = store.reads().top_insights(&team("T1"), window, 5).await.unwrap();
        top.sort_by_key(|r| r.number);
        assert_eq!(authors(top), expected);
        let engagement = store.reads().engagement(&team("T1"), window, 5).await.unwrap();
        let contributors: Vec<(&str, i64)> =
            engagement[0].contributors.iter().map(|c| (c.user_id.as_str(), c.insights)).collect();
        assert_eq!(contributors, vec![("U0AUTHOR", 1)]);

        // The digest's reads too: the move's author, and a voter of another shape.
        let first = db.query_i64("SELECT id FROM insights WHERE number = 1").await;
        db.execute(&[
            format!("INSERT INTO status_changes (insight_id, status, changed_by, changed_at) VALUES ({first}, 'shipped', NULL, 5)"),
            format!("INSERT INTO votes (insight_id, user_id, channel_id, message_ts) VALUES ({first}, 'v0bench', 'C0CIRCLE', '1.1')"),
            format!("INSERT INTO votes (insight_id, user_id, channel_id, message_ts) VALUES ({first}, 'U0VOTER', 'C0CIRCLE', '1.2')"),
        ])
        .await;
        let moves = store.digests().status_moves(ids::team("T1"), None, window).await.unwrap();
        assert_eq!(moves.iter().map(|m| (m.number, m.author_id.clone())).collect::<Vec<_>>(), vec![(1, None)]);
        let voters = store.digests().voters_of(&[first], ids::channel("C0CIRCLE")).await.unwrap();
        assert_eq!(voters.iter().map(|v| v.user_id.as_str()).collect::<Vec<_>>(), vec!["U0VOTER"]);

        // And capture's: the insight itself, and its voters.
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.insight(first).await.unwrap().unwrap().author_id, None);
        assert_eq!(tx.voters(first).await.unwrap(), ["U0VOTER"]);
    }
}

on_both_backends! {
    async fn api_tokens_are_found_by_prefix_and_revoked_by_name(db: TestDb) {
        let store = db.store().await;
        let tokens = store.tokens();
        let new = |name, prefix| NewApiToken { name, team_id: None, prefix, secret_hash: "h4sh", at: 10 };
        let looker = tokens.create_token(&new("looker", "aaa")).await.unwrap();
        tokens.create_token(&new("sheets", "bbb")).await.unwrap();
        assert_eq!(tokens.token_by_prefix("aaa").await.unwrap().unwrap().name, "looker");
        assert!(tokens.token_by_prefix("zzz").await.unwrap().is_none());
        tokens.token_used(looker.id, 20).await.unwrap();
        assert_eq!(tokens.token_by_prefix("aaa").await.unwrap().unwrap().last_used_at, Some(20));
        assert_eq!(tokens.revoke_token("looker", 30).await.unwrap(), 1);
        assert_eq!(tokens.revoke_token("looker", 40).await.unwrap(), 0, "already revoked");
        assert_eq!(tokens.revoke_token(&looker.id.to_string(), 40).await.unwrap(), 0);
        let listed: Vec<(String, Option<i64>)> = tokens.tokens().await.unwrap().into_iter().map(|t| (t.name, t.revoked_at)).collect();
        assert_eq!(listed, vec![("looker".to_owned(), Some(30)), ("sheets".to_owned(), None)]);
    }
}
