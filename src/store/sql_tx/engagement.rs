//! Tags, votes and replies on insights.

use super::*;

pub(super) async fn add_tag<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    tag: &str,
    source: TagSource,
) -> StoreResult<bool> {
    let done = tx.execute(Statement::new(
"INSERT INTO insight_tags (insight_id, tag, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(tag)
    .bind(source.as_str()))
            .await?;
    tx.stale_tags(id);
    Ok(done > 0)
}

pub(super) async fn remove_tag<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    tag: &str,
    source: TagSource,
) -> StoreResult<bool> {
    let done = tx
        .execute(
            Statement::new("DELETE FROM insight_tags WHERE insight_id = $1 AND tag = $2 AND source = $3")
                .bind(id)
                .bind(tag)
                .bind(source.as_str()),
        )
        .await?;
    tx.stale_tags(id);
    Ok(done > 0)
}

pub(super) async fn replace_tags<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    source: TagSource,
    tags: &[String],
) -> StoreResult<()> {
    tx.execute(
        Statement::new("DELETE FROM insight_tags WHERE insight_id = $1 AND source = $2")
            .bind(id)
            .bind(source.as_str()),
    )
    .await?;
    tx.stale_tags(id);
    for tag in tags {
        add_tag(tx, id, tag, source).await?;
    }
    Ok(())
}

pub(super) async fn tags<T: TxConnection>(tx: &mut SqlTx<T>, id: i64) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = tx
        .fetch_all(
            Statement::new("SELECT DISTINCT tag FROM insight_tags WHERE insight_id = $1 ORDER BY tag")
                .bind(id),
        )
        .await?;
    Ok(rows.into_iter().map(|(tag,)| tag).collect())
}

pub(super) async fn add_vote<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    user_id: &UserId,
    on: MessageRef<'_>,
) -> StoreResult<bool> {
    let done = tx
        .execute(
            Statement::new(
                "INSERT INTO votes (insight_id, user_id, channel_id, message_ts) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(user_id)
            .bind(on.channel_id)
            .bind(on.ts),
        )
        .await?;
    tx.stale_counts(id);
    Ok(done > 0)
}

pub(super) async fn add_vote_on_message<T: TxConnection>(
    tx: &mut SqlTx<T>,
    user_id: &UserId,
    on: MessageRef<'_>,
) -> StoreResult<bool> {
    // One statement: votes are most of a busy circle's reactions. Merges re-point
    // whole chains, so one hop through merged_into reaches the target.
    let done: Option<(i64,)> = tx
        .fetch_optional(
            Statement::new(
                "INSERT INTO votes (insight_id, user_id, channel_id, message_ts) \
                 SELECT COALESCE(merged_into, id), $1, channel_id, message_ts FROM insights \
                 WHERE team_id = $2 AND channel_id = $3 AND message_ts = $4 AND NOT deleted \
                 AND (author_id IS NULL OR author_id <> $1) \
                 ON CONFLICT DO NOTHING RETURNING insight_id",
            )
            .bind(user_id)
            .bind(on.team_id)
            .bind(on.channel_id)
            .bind(on.ts),
        )
        .await?;
    Ok(tx.counted(done))
}

pub(super) async fn remove_vote<T: TxConnection>(
    tx: &mut SqlTx<T>,
    user_id: &UserId,
    on: MessageRef<'_>,
) -> StoreResult<bool> {
    let done: Vec<(i64,)> = tx
        .fetch_all(
            Statement::new(
                "DELETE FROM votes WHERE channel_id = $1 AND message_ts = $2 AND user_id = $3 \
                 AND EXISTS (SELECT 1 FROM insights i WHERE i.id = votes.insight_id AND i.team_id = $4) \
                 RETURNING insight_id",
            )
            .bind(on.channel_id)
            .bind(on.ts)
            .bind(user_id)
            .bind(on.team_id),
        )
        .await?;
    let removed = !done.is_empty();
    for (id,) in done {
        tx.stale_counts(id);
    }
    Ok(removed)
}

pub(super) async fn voters<T: TxConnection>(tx: &mut SqlTx<T>, id: i64) -> StoreResult<Vec<UserId>> {
    let rows: Vec<(Lenient<UserId>,)> = tx
        .fetch_all(
            Statement::new("SELECT DISTINCT user_id FROM votes WHERE insight_id = $1 ORDER BY user_id")
                .bind(id),
        )
        .await?;
    Ok(rows.into_iter().filter_map(|(Lenient(user),)| user).collect())
}

pub(super) async fn voters_on<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    m: MessageRef<'_>,
) -> StoreResult<Vec<UserId>> {
    let rows: Vec<(Lenient<UserId>,)> = tx
        .fetch_all(
            Statement::new(
                "SELECT DISTINCT user_id FROM votes \
                 WHERE insight_id = $1 AND channel_id = $2 AND message_ts = $3 ORDER BY user_id",
            )
            .bind(id)
            .bind(m.channel_id)
            .bind(m.ts),
        )
        .await?;
    Ok(rows.into_iter().filter_map(|(Lenient(user),)| user).collect())
}

pub(super) async fn add_reply<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    reply: &Reply,
) -> StoreResult<bool> {
    let done = tx
        .execute(
            Statement::new(
                "INSERT INTO replies (insight_id, channel_id, ts, user_id, text) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&reply.channel_id)
            .bind(&reply.ts)
            .bind(reply.user_id.as_ref())
            .bind(&reply.text),
        )
        .await?;
    tx.stale_counts(id);
    Ok(done > 0)
}

pub(super) async fn edit_reply<T: TxConnection>(
    tx: &mut SqlTx<T>,
    channel_id: &ChannelId,
    ts: &str,
    text: Option<&str>,
) -> StoreResult<()> {
    let query = match text {
        Some(text) => Statement::new("UPDATE replies SET text = $3 WHERE channel_id = $1 AND ts = $2")
            .bind(channel_id)
            .bind(ts)
            .bind(text),
        None => {
            let removed: Vec<(i64,)> = tx
                .fetch_all(
                    Statement::new(
                        "DELETE FROM replies WHERE channel_id = $1 AND ts = $2 RETURNING insight_id",
                    )
                    .bind(channel_id)
                    .bind(ts),
                )
                .await?;
            for (id,) in removed {
                tx.stale_counts(id);
            }
            return Ok(());
        }
    };
    tx.execute(query).await?;
    Ok(())
}

pub(super) async fn replies<T: TxConnection>(tx: &mut SqlTx<T>, id: i64) -> StoreResult<Vec<Reply>> {
    tx.fetch_all(
        Statement::new("SELECT channel_id, ts, user_id, text FROM replies WHERE insight_id = $1 ORDER BY ts")
            .bind(id),
    )
    .await
}
