//! Triage: `/feedback status` and `/feedback merge`, the status buttons, and closing the loop
//! in the captured messages' threads exactly once.

use circlet::store::{
    Insight, InsightSource, InsightStatus, InsightTx, MessageRef, NewInsight, Reply, SharedStore, TagSource,
};

use crate::helpers::TestDb;
use crate::on_both_backends;

const TEAM: &str = "T0CIRCLE";
const CHANNEL: &str = "C0CIRCLE";

/// What a test insight is made of.
struct Seed<'a> {
    team: &'a str,
    channel: &'a str,
    ts: &'a str,
    author: &'a str,
    voters: &'a [&'a str],
    tags: &'a [(&'a str, TagSource)],
    replies: &'a [&'a str],
    source: InsightSource,
}

impl<'a> Seed<'a> {
    fn new(ts: &'a str, author: &'a str) -> Self {
        Seed {
            team: TEAM,
            channel: CHANNEL,
            ts,
            author,
            voters: &[],
            tags: &[],
            replies: &[],
            source: InsightSource::Reaction,
        }
    }
}

async fn add(tx: &mut dyn InsightTx, seed: &Seed<'_>) -> Insight {
    let message = MessageRef {
        team_id: seed.team,
        channel_id: seed.channel,
        ts: seed.ts,
    };
    let insight = tx
        .create_insight(&NewInsight {
            message,
            thread_ts: None,
            author_id: Some(seed.author),
            text: Some("It would be great to export to PDF"),
            text_version: 1,
            source: seed.source,
            at: 1_000,
        })
        .await
        .unwrap();
    for voter in seed.voters {
        tx.add_vote(insight.id, voter, message).await.unwrap();
    }
    for (tag, source) in seed.tags {
        tx.add_tag(insight.id, tag, *source).await.unwrap();
    }
    for reply_ts in seed.replies {
        let reply = Reply {
            channel_id: seed.channel.to_owned(),
            ts: (*reply_ts).to_owned(),
            user_id: Some("U0REPLY".to_owned()),
            text: format!("reply {reply_ts}"),
        };
        tx.add_reply(insight.id, &reply).await.unwrap();
    }
    insight
}

/// Captures one insight per seed, in one transaction, as the capture path would.
async fn seed(store: &SharedStore, seeds: &[Seed<'_>]) -> Vec<Insight> {
    let mut tx = store.begin().await.unwrap();
    let mut insights = Vec::new();
    for one in seeds {
        insights.push(add(&mut *tx, one).await);
    }
    tx.commit().await.unwrap();
    insights
}

on_both_backends! {
    async fn merging_moves_tags_voters_replies_and_sources_into_the_target(db: TestDb) {
        let store = db.store().await;
        let [source, target, earlier] = <[Insight; 3]>::try_from(seed(&store, &[
            Seed {
                voters: &["U0ANA", "U0BEN"],
                tags: &[("idea", TagSource::Reaction), ("pdf", TagSource::Rule)],
                replies: &["1700000001.000200"],
                ..Seed::new("1700000001.000100", "U0MAYA")
            },
            Seed {
                voters: &["U0BEN", "U0CAL"],
                tags: &[("idea", TagSource::Reaction)],
                replies: &["1700000002.000200"],
                source: InsightSource::Shortcut,
                ..Seed::new("1700000002.000100", "U0NOOR")
            },
            Seed {
                voters: &["U0DEV"],
                tags: &[("export", TagSource::Modal)],
                source: InsightSource::Prompt,
                ..Seed::new("1700000003.000100", "U0OLA")
            },
        ]).await).unwrap();

        let mut tx = store.begin().await.unwrap();
        // An insight merged into the source earlier follows it into the target.
        tx.merge(earlier.id, source.id, 2_000).await.unwrap();
        // The same tag from the same source, and the same capture source, on both sides.
        tx.add_tag(source.id, "idea", TagSource::Reaction).await.unwrap();
        tx.add_source(source.id, InsightSource::Shortcut).await.unwrap();
        tx.merge(source.id, target.id, 3_000).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.tags(target.id).await.unwrap(), ["export", "idea", "pdf"]);
        assert_eq!(tx.voters(target.id).await.unwrap(), ["U0ANA", "U0BEN", "U0CAL", "U0DEV"]);
        let replies: Vec<String> = tx.replies(target.id).await.unwrap().into_iter().map(|r| r.ts).collect();
        assert_eq!(replies, ["1700000001.000200", "1700000002.000200"]);
        assert_eq!(
            tx.sources(target.id).await.unwrap(),
            [InsightSource::Prompt, InsightSource::Reaction, InsightSource::Shortcut]
        );
        for moved in [source.id, earlier.id] {
            let insight = tx.insight(moved).await.unwrap().unwrap();
            assert_eq!(insight.merged_into, Some(target.id), "#{} points at the target", insight.number);
            assert!(tx.tags(moved).await.unwrap().is_empty());
            assert!(tx.voters(moved).await.unwrap().is_empty());
            assert!(tx.replies(moved).await.unwrap().is_empty());
            assert!(tx.sources(moved).await.unwrap().is_empty());
        }
        let merged: Vec<i64> = tx.merged_into(target.id).await.unwrap().iter().map(|i| i.number).collect();
        assert_eq!(merged, [source.number, earlier.number]);
        // Each message's voters stay known, so each thread can be told separately.
        assert_eq!(tx.voters_on(target.id, source.message()).await.unwrap(), ["U0ANA", "U0BEN"]);
        assert_eq!(tx.voters_on(target.id, target.message()).await.unwrap(), ["U0BEN", "U0CAL"]);
        let counts = tx.insight_counts(TEAM).await.unwrap();
        assert_eq!(counts, [(CHANNEL.to_owned(), 1)], "merged insights leave the counts");
    }
}

on_both_backends! {
    async fn a_status_change_is_recorded_once_per_new_status(db: TestDb) {
        let store = db.store().await;
        let [insight, merged] =
            <[Insight; 2]>::try_from(seed(&store, &[
                Seed::new("1700000001.000100", "U0MAYA"),
                Seed::new("1700000002.000100", "U0NOOR"),
            ]).await).unwrap();
        let mut tx = store.begin().await.unwrap();
        let first = tx.change_status(insight.id, InsightStatus::Shipped, Some("U0PM"), 2_000).await.unwrap();
        assert!(first.is_some());
        let again = tx.change_status(insight.id, InsightStatus::Shipped, Some("U0PM"), 3_000).await.unwrap();
        assert_eq!(again, None, "the same status again is no change");
        let next = tx.change_status(insight.id, InsightStatus::Declined, None, 4_000).await.unwrap();
        assert!(next.is_some() && next != first);
        tx.merge(merged.id, insight.id, 5_000).await.unwrap();
        let on_merged = tx.change_status(merged.id, InsightStatus::Planned, None, 6_000).await.unwrap();
        assert_eq!(on_merged, None, "a merged insight's status follows its target");
        let stored = tx.insight(insight.id).await.unwrap().unwrap();
        assert_eq!((stored.status(), stored.updated_at), (InsightStatus::Declined, 4_000));
        tx.commit().await.unwrap();
    }
}
