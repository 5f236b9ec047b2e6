//! The message cache and reactions.

use super::*;

/// Caches a message; true when Circlet had not seen it before. A new message (the common case)
/// takes one statement; one already cached takes a second, to update it.
pub(super) async fn put_message<T: TxConnection>(
    tx: &mut SqlTx<T>,
    m: &CachedMessage,
    at: Millis,
) -> StoreResult<bool> {
    let inserted = tx
        .execute(
            Statement::new(
                "INSERT INTO messages (team_id, channel_id, ts, user_id, text, thread_ts, seen_at, user_team_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (team_id, channel_id, ts) DO NOTHING",
            )
            .bind(&m.team_id)
            .bind(&m.channel_id)
            .bind(&m.ts)
            .bind(m.user_id.as_ref())
            .bind(&m.text)
            .bind(&m.thread_ts)
            .bind(at)
            .bind(m.user_team_id.as_ref()),
        )
        .await?;
    if inserted > 0 {
        return Ok(true);
    }
    tx.execute(
        Statement::new(
            "UPDATE messages SET user_id = COALESCE($4, user_id), text = $5, \
             thread_ts = COALESCE($6, thread_ts), seen_at = $7, user_team_id = COALESCE($8, user_team_id) \
             WHERE team_id = $1 AND channel_id = $2 AND ts = $3",
        )
        .bind(&m.team_id)
        .bind(&m.channel_id)
        .bind(&m.ts)
        .bind(m.user_id.as_ref())
        .bind(&m.text)
        .bind(&m.thread_ts)
        .bind(at)
        .bind(m.user_team_id.as_ref()),
    )
    .await?;
    Ok(false)
}

pub(super) async fn message<T: TxConnection>(
    tx: &mut SqlTx<T>,
    at: MessageRef<'_>,
) -> StoreResult<Option<CachedMessage>> {
    let row: Option<CachedMessage> = tx
        .fetch_optional(
            Statement::new(
                "SELECT team_id, channel_id, ts, user_id, text, thread_ts, user_team_id FROM messages \
                 WHERE team_id = $1 AND channel_id = $2 AND ts = $3",
            )
            .bind(at.team_id)
            .bind(at.channel_id)
            .bind(at.ts),
        )
        .await?;
    Ok(row)
}

pub(super) async fn thread_replies<T: TxConnection>(
    tx: &mut SqlTx<T>,
    parent: MessageRef<'_>,
) -> StoreResult<Vec<CachedMessage>> {
    let rows: Vec<CachedMessage> = tx
        .fetch_all(
            Statement::new(
                "SELECT team_id, channel_id, ts, user_id, text, thread_ts, user_team_id FROM messages \
                 WHERE team_id = $1 AND channel_id = $2 AND thread_ts = $3 AND ts <> $3 ORDER BY ts",
            )
            .bind(parent.team_id)
            .bind(parent.channel_id)
            .bind(parent.ts),
        )
        .await?;
    Ok(rows)
}

pub(super) async fn forget_message<T: TxConnection>(
    tx: &mut SqlTx<T>,
    at: MessageRef<'_>,
) -> StoreResult<()> {
    tx.execute(
        Statement::new("DELETE FROM messages WHERE team_id = $1 AND channel_id = $2 AND ts = $3")
            .bind(at.team_id)
            .bind(at.channel_id)
            .bind(at.ts),
    )
    .await?;
    Ok(())
}

pub(super) async fn set_reaction<T: TxConnection>(
    tx: &mut SqlTx<T>,
    c: &ReactionChange<'_>,
) -> StoreResult<bool> {
    let done = tx
        .execute(
            Statement::new(
                "INSERT INTO reactions (team_id, channel_id, message_ts, user_id, emoji, present, event_ts) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (team_id, channel_id, message_ts, user_id, emoji) DO UPDATE SET \
                 present = excluded.present, event_ts = excluded.event_ts \
                 WHERE reactions.event_ts < excluded.event_ts",
            )
            .bind(c.message.team_id)
            .bind(c.message.channel_id)
            .bind(c.message.ts)
            .bind(c.user_id)
            .bind(c.emoji)
            .bind(c.present)
            .bind(c.event_ts),
        )
        .await?;
    Ok(done > 0)
}

pub(super) async fn reactions_on<T: TxConnection>(
    tx: &mut SqlTx<T>,
    m: MessageRef<'_>,
) -> StoreResult<Vec<Reaction>> {
    let rows: Vec<(Lenient<UserId>, String)> = tx
        .fetch_all(
            Statement::new(
                "SELECT user_id, emoji FROM reactions \
                 WHERE team_id = $1 AND channel_id = $2 AND message_ts = $3 AND present \
                 ORDER BY user_id, emoji",
            )
            .bind(m.team_id)
            .bind(m.channel_id)
            .bind(m.ts),
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(Lenient(user), emoji)| user.map(|user_id| Reaction { user_id, emoji }))
        .collect())
}

pub(super) async fn has_reaction<T: TxConnection>(
    tx: &mut SqlTx<T>,
    insight_id: i64,
    emoji: &[&str],
) -> StoreResult<bool> {
    for one in emoji {
        let found: Option<(i64,)> = tx
            .fetch_optional(
                Statement::new(
                    "SELECT 1 FROM reactions r JOIN insights i \
                     ON i.team_id = r.team_id AND i.channel_id = r.channel_id \
                     AND i.message_ts = r.message_ts \
                     WHERE (i.id = $1 OR i.merged_into = $1) AND r.emoji = $2 AND r.present LIMIT 1",
                )
                .bind(insight_id)
                .bind(*one),
            )
            .await?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}
