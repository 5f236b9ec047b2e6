//! An insight's own row: creation, text and revisions, sources, status, merges.

use super::*;

pub(super) async fn insight<T: TxConnection>(tx: &mut SqlTx<T>, id: i64) -> StoreResult<Option<Insight>> {
    tx.fetch_optional(Statement::new(insight_query("id = $1")).bind(id))
        .await
}

pub(super) async fn insight_by_number<T: TxConnection>(
    tx: &mut SqlTx<T>,
    team_id: &TeamId,
    number: i64,
) -> StoreResult<Option<Insight>> {
    tx.fetch_optional(
        Statement::new(insight_query("team_id = $1 AND number = $2"))
            .bind(team_id)
            .bind(number),
    )
    .await
}

pub(super) async fn insight_by_message<T: TxConnection>(
    tx: &mut SqlTx<T>,
    m: MessageRef<'_>,
) -> StoreResult<Option<Insight>> {
    tx.fetch_optional(
        Statement::new(insight_query(
            "team_id = $1 AND channel_id = $2 AND message_ts = $3",
        ))
        .bind(m.team_id)
        .bind(m.channel_id)
        .bind(m.ts),
    )
    .await
}

pub(super) async fn create_insight<T: TxConnection>(
    tx: &mut SqlTx<T>,
    new: &NewInsight<'_>,
) -> StoreResult<Insight> {
    let (number,): (i64,) = tx
        .fetch_one(
            Statement::new(
                "INSERT INTO insight_numbers (team_id, last_number) VALUES ($1, 1) \
                 ON CONFLICT (team_id) DO UPDATE SET last_number = insight_numbers.last_number + 1 \
                 RETURNING last_number",
            )
            .bind(new.message.team_id),
        )
        .await?;
    let sql = format!(
        "INSERT INTO insights (team_id, number, channel_id, message_ts, thread_ts, author_id, text, \
         text_version, source, created_at, updated_at, author_team_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) \
         ON CONFLICT (team_id, channel_id, message_ts) DO NOTHING RETURNING {INSIGHT_COLUMNS}"
    );
    let created: Option<Insight> = tx
        .fetch_optional(
            Statement::new(sql)
                .bind(new.message.team_id)
                .bind(number)
                .bind(new.message.channel_id)
                .bind(new.message.ts)
                .bind(new.thread_ts)
                .bind(new.author_id)
                .bind(new.text)
                .bind(new.text_version)
                .bind(new.source.as_str())
                .bind(new.at)
                .bind(new.author_team_id),
        )
        .await?;
    let insight = match created {
        Some(insight) => insight,
        // Captured already (by an earlier event, or another replica a moment ago).
        None => insight_by_message(tx, new.message)
            .await?
            .ok_or_else(|| crate::store::StoreError::Corrupt("insight vanished while creating it".into()))?,
    };
    add_source(tx, insight.id, new.source).await?;
    Ok(insight)
}

pub(super) async fn set_text<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    text: &str,
    version: i64,
    at: Millis,
) -> StoreResult<bool> {
    tx.execute(
        Statement::new(
            "INSERT INTO insight_revisions (insight_id, text, replaced_at) \
             SELECT id, text, $3 FROM insights \
             WHERE id = $1 AND text IS NOT NULL AND text <> $2 AND text_version <= $4 AND NOT deleted",
        )
        .bind(id)
        .bind(text)
        .bind(at)
        .bind(version),
    )
    .await?;
    tx.execute(
        Statement::new(
            "DELETE FROM insight_revisions WHERE insight_id = $1 AND id <= \
             (SELECT id FROM insight_revisions WHERE insight_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(id)
        .bind(MAX_REVISIONS),
    )
    .await?;
    let changed = tx
        .execute(
            Statement::new(
                "UPDATE insights SET text = $2, text_version = $3, updated_at = $4 \
                 WHERE id = $1 AND text_version <= $3 AND NOT deleted AND (text IS NULL OR text <> $2)",
            )
            .bind(id)
            .bind(text)
            .bind(version)
            .bind(at),
        )
        .await?;
    Ok(changed > 0)
}

pub(super) async fn set_details<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    d: &InsightDetails,
    at: Millis,
) -> StoreResult<()> {
    tx.execute(
        Statement::new(
            "UPDATE insights SET product_area = $2, sentiment = $3, customer_company = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&d.product_area)
        .bind(&d.sentiment)
        .bind(&d.customer_company)
        .bind(at),
    )
    .await?;
    Ok(())
}

pub(super) async fn mark_deleted<T: TxConnection>(tx: &mut SqlTx<T>, id: i64, at: Millis) -> StoreResult<()> {
    tx.execute(Statement::new("DELETE FROM insight_revisions WHERE insight_id = $1").bind(id))
        .await?;
    tx.execute(
        Statement::new("UPDATE insights SET deleted = TRUE, text = '', updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at),
    )
    .await?;
    Ok(())
}

pub(super) async fn discard_insight<T: TxConnection>(tx: &mut SqlTx<T>, id: i64) -> StoreResult<()> {
    for table in crate::store::insights::INSIGHT_CHILDREN {
        tx.execute(Statement::new(format!("DELETE FROM {table} WHERE insight_id = $1")).bind(id))
            .await?;
    }
    tx.execute(Statement::new("DELETE FROM insights WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

pub(super) async fn revisions<T: TxConnection>(tx: &mut SqlTx<T>, id: i64) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = tx
        .fetch_all(
            Statement::new("SELECT text FROM insight_revisions WHERE insight_id = $1 ORDER BY id").bind(id),
        )
        .await?;
    Ok(rows.into_iter().map(|(text,)| text).collect())
}

pub(super) async fn add_source<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    source: InsightSource,
) -> StoreResult<()> {
    tx.execute(
        Statement::new(
            "INSERT INTO insight_sources (insight_id, source) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(source.as_str()),
    )
    .await?;
    Ok(())
}

pub(super) async fn sources<T: TxConnection>(tx: &mut SqlTx<T>, id: i64) -> StoreResult<Vec<InsightSource>> {
    let rows: Vec<(String,)> = tx
        .fetch_all(
            Statement::new("SELECT source FROM insight_sources WHERE insight_id = $1 ORDER BY source")
                .bind(id),
        )
        .await?;
    Ok(rows.into_iter().filter_map(|(s,)| s.parse().ok()).collect())
}

pub(super) async fn change_status<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    status: InsightStatus,
    by: Option<&UserId>,
    at: Millis,
) -> StoreResult<Option<i64>> {
    let changed = tx
        .execute(
            Statement::new(
                "UPDATE insights SET status = $2, updated_at = $3 \
                 WHERE id = $1 AND status <> $2 AND merged_into IS NULL",
            )
            .bind(id)
            .bind(status.as_str())
            .bind(at),
        )
        .await?;
    if changed == 0 {
        return Ok(None);
    }
    let (change,): (i64,) = tx
        .fetch_one(
            Statement::new(
                "INSERT INTO status_changes (insight_id, status, changed_by, changed_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(id)
            .bind(status.as_str())
            .bind(by)
            .bind(at),
        )
        .await?;
    Ok(Some(change))
}

pub(super) async fn merge<T: TxConnection>(
    tx: &mut SqlTx<T>,
    from: i64,
    into: i64,
    at: Millis,
) -> StoreResult<()> {
    for table in ["insight_tags", "insight_sources", "votes", "replies"] {
        // Rows the target already has stay once; the rest move.
        tx.execute(
            Statement::new(format!(
                "UPDATE {table} SET insight_id = $2 WHERE insight_id = $1 \
                 AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.insight_id = $2 AND {same})",
                same = match table {
                    "insight_tags" => "t.tag = {table}.tag AND t.source = {table}.source",
                    "insight_sources" => "t.source = {table}.source",
                    "votes" =>
                        "t.user_id = {table}.user_id AND t.channel_id = {table}.channel_id \
                         AND t.message_ts = {table}.message_ts",
                    _ => "t.channel_id = {table}.channel_id AND t.ts = {table}.ts",
                }
                .replace("{table}", table),
            ))
            .bind(from)
            .bind(into),
        )
        .await?;
        tx.execute(Statement::new(format!("DELETE FROM {table} WHERE insight_id = $1")).bind(from))
            .await?;
    }
    for id in [from, into] {
        tx.stale_tags(id);
        tx.stale_counts(id);
    }
    tx.execute(
        Statement::new(
            "UPDATE insights SET merged_into = $2, updated_at = $3 WHERE id = $1 OR merged_into = $1",
        )
        .bind(from)
        .bind(into)
        .bind(at),
    )
    .await?;
    Ok(())
}

pub(super) async fn merged_into<T: TxConnection>(tx: &mut SqlTx<T>, id: i64) -> StoreResult<Vec<Insight>> {
    tx.fetch_all(Statement::new(insight_query("merged_into = $1 ORDER BY number")).bind(id))
        .await
}

pub(super) async fn set_author_team<T: TxConnection>(
    tx: &mut SqlTx<T>,
    id: i64,
    author_team: &TeamId,
) -> StoreResult<()> {
    tx.execute(
        Statement::new("UPDATE insights SET author_team_id = $2 WHERE id = $1")
            .bind(id)
            .bind(author_team),
    )
    .await?;
    Ok(())
}
