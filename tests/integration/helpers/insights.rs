//! Many insights at once, written straight into the database: an export of any size in a moment.

use super::db::TestDb;

/// Insights 1..=`count` of `team` in one circle, each with a text of `text_bytes` bytes or so,
/// tagged `idea`, in a database the app has migrated. One statement for both backends (a
/// recursive CTE; PostgreSQL accepts the same form).
pub async fn seed_insights(db: &TestDb, team: &str, count: i64, text_bytes: usize) {
    let filler = "feedback ".repeat(text_bytes / 9);
    db.execute(&[
        format!(
            "INSERT INTO insights (team_id, number, channel_id, message_ts, author_id, text, source, status, \
             created_at, updated_at, tags, vote_count, reply_count) \
             SELECT '{team}', i, 'C0CIRCLE', '1700000000.' || i, 'U0AUTHOR', 'Insight ' || i || ': {filler}', \
             'reaction', 'new', i, i, 'idea', 0, 0 \
             FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count}) \
                   SELECT i FROM s) AS seq"
        ),
        format!("INSERT INTO insight_numbers (team_id, last_number) VALUES ('{team}', {count})"),
    ])
    .await;
}
