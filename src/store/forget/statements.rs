//! The statements of a forget, in the order they run inside its one transaction.

use super::pseudonym::{member_hash, new_key, pseudonym};
use super::{ForgetMember, Forgotten, MemberState, PSEUDONYM_SLOT, REMOVED_TEXT};
use crate::clock::Millis;
use crate::ids::{TeamId, UserId};
use crate::store::StoreResult;
use crate::store::sql::{Executor, Statement, in_list};
use crate::store::sql_tx::COUNTS;

/// A forget's inputs, owned, to move into the transaction's work.
pub(super) struct Request {
    team: TeamId,
    user: UserId,
    at: Millis,
    inbox_row: Option<(i64, String)>,
}

impl Request {
    pub(super) fn new(member: &ForgetMember<'_>) -> Self {
        Self {
            team: member.team_id.clone(),
            user: member.user_id.clone(),
            at: member.at,
            inbox_row: member.inbox_row.clone(),
        }
    }
}

/// Their insights, by `$1` (team) and `$2` (member).
const THEIR_INSIGHTS: &str = "SELECT id FROM insights WHERE team_id = $1 AND author_id = $2";
/// The workspace's insights, by `$1`.
const TEAM_INSIGHTS: &str = "SELECT id FROM insights WHERE team_id = $1";

/// Statements that take `$1` team, `$2` member, `$3` pseudonym, `$4` the removed text, each
/// named for [`Forgotten::changes`]. Authored insights are rewritten before anything that
/// matches texts by id, so their texts are not matched twice.
fn changes() -> Vec<(&'static str, String)> {
    // Others' texts that name the member by id: the id becomes the pseudonym.
    let renamed = |table: &str, scope: &str| {
        format!(
            "UPDATE {table} SET text = REPLACE(text, $2, $3) WHERE {scope} AND text LIKE '%' || $2 || '%'"
        )
    };
    let in_team = format!("insight_id IN ({TEAM_INSIGHTS})");
    let mut changes = vec![
        (
            "earlier texts of their insights removed",
            format!(
                "UPDATE insight_revisions SET text = $4 WHERE insight_id IN ({THEIR_INSIGHTS}) AND text <> $4"
            ),
        ),
        (
            "insights they authored pseudonymised",
            "UPDATE insights SET text = $4, author_id = $3, customer_company = NULL \
             WHERE team_id = $1 AND author_id = $2"
                .to_owned(),
        ),
        (
            "votes deleted",
            format!("DELETE FROM votes WHERE user_id = $2 AND {in_team}"),
        ),
        (
            "replies deleted",
            format!("DELETE FROM replies WHERE user_id = $2 AND {in_team}"),
        ),
        (
            "status changes unattributed",
            format!("UPDATE status_changes SET changed_by = NULL WHERE changed_by = $2 AND {in_team}"),
        ),
    ];
    for table in [
        "messages",
        "reactions",
        "member_activity",
        "circle_members",
        "people",
    ] {
        let what = match table {
            "messages" => "cached messages deleted",
            "reactions" => "reactions (tags and votes given) deleted",
            "member_activity" => "activity days deleted",
            "circle_members" => "circle memberships deleted",
            _ => "names deleted",
        };
        changes.push((
            what,
            format!("DELETE FROM {table} WHERE team_id = $1 AND user_id = $2"),
        ));
    }
    changes.extend([
        (
            "others' insights naming them",
            renamed("insights", "team_id = $1"),
        ),
        (
            "others' earlier texts naming them",
            renamed("insight_revisions", &in_team),
        ),
        ("others' replies naming them", renamed("replies", &in_team)),
        (
            "others' cached messages naming them",
            renamed("messages", "team_id = $1"),
        ),
    ]);
    for (table, column) in [
        ("circles", "changed_by"),
        ("emoji_tags", "changed_by"),
        ("rules", "created_by"),
        ("prompts", "created_by"),
        ("workspace_settings", "updated_by"),
        ("installations", "installer_user_id"),
    ] {
        changes.push((
            "settings unattributed",
            format!("UPDATE {table} SET {column} = NULL WHERE team_id = $1 AND {column} = $2"),
        ));
    }
    changes.push((
        "finished inbox rows deleted",
        "DELETE FROM inbox WHERE team_id = $1 AND state IN ('done', 'dead') \
         AND event_id LIKE '%' || $2 || '%'"
            .to_owned(),
    ));
    // The row stays, emptied, so that Slack's retry of a delivery already handled is still
    // recognised by its event id (which names no member) and not applied again.
    changes.push((
        "finished inbox rows emptied",
        "UPDATE inbox SET payload = '{}', last_error = NULL \
         WHERE team_id = $1 AND state IN ('done', 'dead') \
         AND (payload LIKE '%' || $2 || '%' OR last_error LIKE '%' || $2 || '%')"
            .to_owned(),
    ));
    changes
}

/// Every workspace holding anything about `$1`.
pub(super) const TEAMS_HOLDING: &str = "SELECT team_id FROM people WHERE user_id = $1 \
     UNION SELECT team_id FROM messages WHERE user_id = $1 \
     UNION SELECT team_id FROM insights WHERE author_id = $1 \
     UNION SELECT team_id FROM reactions WHERE user_id = $1 \
     UNION SELECT team_id FROM member_activity WHERE user_id = $1 \
     UNION SELECT team_id FROM circle_members WHERE user_id = $1 \
     ORDER BY team_id";

/// What is known of `user` in `team`.
pub(super) async fn member_state<E: Executor>(
    c: &mut E,
    team: &TeamId,
    user: &UserId,
) -> StoreResult<MemberState> {
    let teams: Vec<TeamId> = c.fetch_all(&Statement::new(TEAMS_HOLDING).bind(user)).await?;
    if teams.contains(team) {
        return Ok(MemberState::Held);
    }
    let key: Option<String> = c
        .fetch_optional(&Statement::new("SELECT key FROM privacy_keys WHERE team_id = $1").bind(team))
        .await?;
    let Some(key) = key else {
        return Ok(MemberState::Unknown);
    };
    let forgotten: Option<i64> = c
        .fetch_optional(
            &Statement::new("SELECT 1 FROM forgotten_members WHERE team_id = $1 AND member_hash = $2")
                .bind(team)
                .bind(member_hash(&key, team, user)),
        )
        .await?;
    Ok(match forgotten {
        Some(_) => MemberState::Forgotten,
        None => MemberState::Unknown,
    })
}

/// Runs a whole forget on `c`, which is in a write transaction.
pub(super) async fn forget<E: Executor>(c: &mut E, request: &Request) -> StoreResult<Forgotten> {
    let (team, user) = (&request.team, &request.user);
    let key = workspace_key(c, team, request.at).await?;
    let hash = member_hash(&key, team, user);
    let pseudonym = pseudonym(&hash);
    let touched = insights_touched(c, team, user).await?;
    let mut forgotten = Forgotten {
        pseudonym: pseudonym.clone(),
        again: remember(c, team, &hash, request.at).await?,
        changes: Vec::new(),
    };
    for (what, sql) in changes() {
        let statement = Statement::new(sql)
            .bind(team)
            .bind(user)
            .bind(pseudonym.as_str())
            .bind(REMOVED_TEXT);
        let rows = c.execute(&statement).await?;
        add(&mut forgotten, what, rows);
    }
    let product_users = drop_product_user(c, team, user).await?;
    add(&mut forgotten, "settings unattributed", product_users);
    refresh_counts(c, touched).await?;
    if let Some((id, payload)) = &request.inbox_row {
        let payload = payload.replace(PSEUDONYM_SLOT, &pseudonym);
        c.execute(
            &Statement::new("UPDATE inbox SET payload = $2 WHERE id = $1")
                .bind(*id)
                .bind(payload),
        )
        .await?;
    }
    Ok(forgotten)
}

/// Adds `rows` to the change `what` (several statements may share one name).
fn add(forgotten: &mut Forgotten, what: &'static str, rows: u64) {
    match forgotten.changes.iter_mut().find(|(name, _)| *name == what) {
        Some((_, total)) => *total += rows,
        None => forgotten.changes.push((what, rows)),
    }
}

/// The workspace's key, made now if it has none.
async fn workspace_key<E: Executor>(c: &mut E, team: &TeamId, at: Millis) -> StoreResult<String> {
    c.execute(
        &Statement::new(
            "INSERT INTO privacy_keys (team_id, key, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (team_id) DO NOTHING",
        )
        .bind(team)
        .bind(new_key())
        .bind(at),
    )
    .await?;
    c.fetch_one(&Statement::new("SELECT key FROM privacy_keys WHERE team_id = $1").bind(team))
        .await
}

/// Records the member as forgotten; whether they already were.
async fn remember<E: Executor>(c: &mut E, team: &TeamId, hash: &str, at: Millis) -> StoreResult<bool> {
    let added = c
        .execute(
            &Statement::new(
                "INSERT INTO forgotten_members (team_id, member_hash, forgotten_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (team_id, member_hash) DO NOTHING",
            )
            .bind(team)
            .bind(hash)
            .bind(at),
        )
        .await?;
    Ok(added == 0)
}

/// Insights whose counts lose the member's votes or replies.
async fn insights_touched<E: Executor>(c: &mut E, team: &TeamId, user: &UserId) -> StoreResult<Vec<i64>> {
    let statement = Statement::new(format!(
        "SELECT insight_id FROM votes WHERE user_id = $2 AND insight_id IN ({TEAM_INSIGHTS}) \
         UNION SELECT insight_id FROM replies WHERE user_id = $2 AND insight_id IN ({TEAM_INSIGHTS})"
    ))
    .bind(team)
    .bind(user);
    c.fetch_all(&statement).await
}

async fn refresh_counts<E: Executor>(c: &mut E, insights: Vec<i64>) -> StoreResult<()> {
    if insights.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE insights SET {COUNTS} WHERE {}",
        in_list(c.dialect(), "id", "$1")
    );
    c.execute(&Statement::new(sql).bind(insights)).await.map(drop)
}

/// Takes the member out of the workspace's product-user list; 1 when they were in it.
async fn drop_product_user<E: Executor>(c: &mut E, team: &TeamId, user: &UserId) -> StoreResult<u64> {
    let listed: Option<(Option<String>,)> = c
        .fetch_optional(
            &Statement::new("SELECT product_users FROM workspace_settings WHERE team_id = $1").bind(team),
        )
        .await?;
    let Some((Some(list),)) = listed else {
        return Ok(0);
    };
    let kept: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|id| *id != user.as_str())
        .collect();
    if kept.len() == list.split(',').count() {
        return Ok(0);
    }
    c.execute(
        &Statement::new("UPDATE workspace_settings SET product_users = $2 WHERE team_id = $1")
            .bind(team)
            .bind(kept.join(",")),
    )
    .await
}
