//! A workspace's emoji map, keyword rules, names, circle members and activity, and the work it
//! queues in the same transaction.

use super::*;

pub(super) async fn emoji_overrides<T: TxConnection>(
    tx: &mut SqlTx<T>,
    team_id: &TeamId,
) -> StoreResult<Vec<EmojiOverride>> {
    tx.fetch_all(
        Statement::new("SELECT emoji, tag FROM emoji_tags WHERE team_id = $1 ORDER BY emoji").bind(team_id),
    )
    .await
}

pub(super) async fn set_emoji_tag<T: TxConnection>(
    tx: &mut SqlTx<T>,
    team_id: &TeamId,
    emoji: &str,
    tag: Option<&str>,
    by: &UserId,
    at: Millis,
) -> StoreResult<()> {
    tx.execute(Statement::new(
"INSERT INTO emoji_tags (team_id, emoji, tag, changed_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
 ON CONFLICT (team_id, emoji) DO UPDATE SET tag = excluded.tag, \
 changed_by = excluded.changed_by, updated_at = excluded.updated_at",
    )
    .bind(team_id)
    .bind(emoji)
    .bind(tag)
    .bind(by)
    .bind(at))
            .await?;
    Ok(())
}

pub(super) async fn rules<T: TxConnection>(tx: &mut SqlTx<T>, team_id: &TeamId) -> StoreResult<Vec<Rule>> {
    tx.fetch_all(
        Statement::new("SELECT number, phrase, tag, capture FROM rules WHERE team_id = $1 ORDER BY number")
            .bind(team_id),
    )
    .await
}

pub(super) async fn add_rule<T: TxConnection>(
    tx: &mut SqlTx<T>,
    team_id: &TeamId,
    rule: &NewRule,
    by: &UserId,
    at: Millis,
) -> StoreResult<Rule> {
    tx.fetch_one(
        Statement::new(
            "INSERT INTO rules (team_id, number, phrase, tag, capture, created_by, created_at) \
                 SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, $6 \
                 FROM rules WHERE team_id = $1 \
                 RETURNING number, phrase, tag, capture",
        )
        .bind(team_id)
        .bind(&rule.phrase)
        .bind(&rule.tag)
        .bind(rule.capture)
        .bind(by)
        .bind(at),
    )
    .await
}

pub(super) async fn remove_rule<T: TxConnection>(
    tx: &mut SqlTx<T>,
    team_id: &TeamId,
    number: i64,
) -> StoreResult<Option<Rule>> {
    tx.fetch_optional(
        Statement::new(
            "DELETE FROM rules WHERE team_id = $1 AND number = $2 RETURNING number, phrase, tag, capture",
        )
        .bind(team_id)
        .bind(number),
    )
    .await
}

pub(super) async fn circle_channels<T: TxConnection>(
    tx: &mut SqlTx<T>,
    team_id: &TeamId,
) -> StoreResult<Vec<ChannelId>> {
    let rows: Vec<(ChannelId,)> = tx
        .fetch_all(
            Statement::new(
                "SELECT channel_id FROM circles WHERE team_id = $1 AND active ORDER BY channel_id",
            )
            .bind(team_id),
        )
        .await?;
    Ok(rows.into_iter().map(|(c,)| c).collect())
}

pub(super) async fn insight_counts<T: TxConnection>(
    tx: &mut SqlTx<T>,
    team_id: &TeamId,
) -> StoreResult<Vec<CircleCount>> {
    tx.fetch_all(
        Statement::new(
            "SELECT channel_id, COUNT(*) FROM insights \
                 WHERE team_id = $1 AND NOT deleted AND merged_into IS NULL \
                 GROUP BY channel_id ORDER BY channel_id",
        )
        .bind(team_id),
    )
    .await
}

pub(super) async fn record_activity<T: TxConnection>(tx: &mut SqlTx<T>, a: &Activity<'_>) -> StoreResult<()> {
    let kind = match a.kind {
        ActivityKind::Post => 0,
        ActivityKind::Reply => 1,
        ActivityKind::Reaction => 2,
    };
    let key = (
        a.team_id.to_string(),
        a.channel_id.to_string(),
        day_of(a.at),
        a.user_id.to_string(),
    );
    tx.activity.entry(key).or_default()[kind] += 1;
    Ok(())
}

pub(super) async fn set_membership<T: TxConnection>(
    tx: &mut SqlTx<T>,
    m: &Membership<'_>,
) -> StoreResult<()> {
    // A member found in the channel's list keeps a known join time; a join or a leave
    // event is the newer truth.
    let (joined_at, left_at, on_conflict) = match m.change {
        MembershipChange::Present => (None, None, "left_at = NULL"),
        MembershipChange::Joined => (Some(m.at), None, "joined_at = excluded.joined_at, left_at = NULL"),
        MembershipChange::Left => (None, Some(m.at), "left_at = excluded.left_at"),
    };
    let statement = Statement::new(format!(
        "INSERT INTO circle_members (team_id, channel_id, user_id, joined_at, left_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (team_id, channel_id, user_id) DO UPDATE SET {on_conflict}"
    ))
    .bind(m.team_id)
    .bind(m.channel_id)
    .bind(m.user_id)
    .bind(joined_at)
    .bind(left_at);
    tx.execute(statement).await?;
    Ok(())
}

pub(super) async fn set_name<T: TxConnection>(
    tx: &mut SqlTx<T>,
    named: Named<'_>,
    name: &str,
    at: Millis,
) -> StoreResult<()> {
    let query = match named {
        Named::Person { team_id, user_id } => Statement::new(
            "INSERT INTO people (team_id, user_id, name, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (team_id, user_id) DO UPDATE SET \
             name = excluded.name, updated_at = excluded.updated_at",
        )
        .bind(team_id)
        .bind(user_id)
        .bind(name)
        .bind(at),
        // A circle's row records its on/off changes; a rename is not one.
        Named::Channel { team_id, channel_id } => {
            Statement::new("UPDATE circles SET name = $3 WHERE team_id = $1 AND channel_id = $2")
                .bind(team_id)
                .bind(channel_id)
                .bind(name)
        }
        Named::Workspace { team_id } => Statement::new(
            "INSERT INTO workspaces (team_id, url, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (team_id) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at",
        )
        .bind(team_id)
        .bind(name)
        .bind(at),
    };
    tx.execute(query).await?;
    Ok(())
}

pub(super) async fn has_name<T: TxConnection>(tx: &mut SqlTx<T>, named: Named<'_>) -> StoreResult<bool> {
    let query = match named {
        Named::Person { team_id, user_id } => {
            Statement::new("SELECT 1 FROM people WHERE team_id = $1 AND user_id = $2")
                .bind(team_id)
                .bind(user_id)
        }
        Named::Channel { team_id, channel_id } => Statement::new(
            "SELECT 1 FROM circles WHERE team_id = $1 AND channel_id = $2 AND name IS NOT NULL",
        )
        .bind(team_id)
        .bind(channel_id),
        Named::Workspace { team_id } => {
            Statement::new("SELECT 1 FROM workspaces WHERE team_id = $1").bind(team_id)
        }
    };
    let found: Option<(i64,)> = tx.fetch_optional(query).await?;
    Ok(found.is_some())
}

pub(super) async fn person<T: TxConnection>(
    tx: &mut SqlTx<T>,
    team_id: &TeamId,
    user_id: &UserId,
) -> StoreResult<Option<Person>> {
    let found: Option<(Option<TeamId>,)> = tx
        .fetch_optional(
            Statement::new("SELECT user_team_id FROM people WHERE team_id = $1 AND user_id = $2")
                .bind(team_id)
                .bind(user_id),
        )
        .await?;
    Ok(found.map(|(user_team_id,)| Person { user_team_id }))
}

pub(super) async fn set_person_team<T: TxConnection>(
    tx: &mut SqlTx<T>,
    team_id: &TeamId,
    user_id: &UserId,
    user_team: &TeamId,
) -> StoreResult<()> {
    tx.execute(
        Statement::new("UPDATE people SET user_team_id = $3 WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .bind(user_team),
    )
    .await?;
    // On the (team_id, author_id) index: a person's insights, not the workspace's.
    tx.execute(
        Statement::new(
            "UPDATE insights SET author_team_id = $3 \
             WHERE team_id = $1 AND author_id = $2 AND author_team_id IS NULL",
        )
        .bind(team_id)
        .bind(user_id)
        .bind(user_team),
    )
    .await?;
    Ok(())
}

pub(super) async fn enqueue<T: TxConnection>(tx: &mut SqlTx<T>, item: &NewInboxItem) -> StoreResult<bool> {
    let done = tx
        .execute(
            Statement::new(
                "INSERT INTO inbox (team_id, event_id, kind, event_type, payload, received_at, run_after) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&item.team_id)
            .bind(&item.event_id)
            .bind(item.kind.as_str())
            .bind(&item.event_type)
            .bind(&item.payload)
            .bind(item.received_at),
        )
        .await?;
    Ok(done > 0)
}
