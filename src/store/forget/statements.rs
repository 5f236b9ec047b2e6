//! The statements of a forget, and the turns they run in. On an engine with one writer
//! (SQLite) a forget is cut into many short write transactions, so that the inbox writer's
//! commits, which Slack's acknowledgements wait on, get in between: the workspace's insights
//! are walked by id, [`INSIGHTS_PER_TURN`] at a time, with everything attached to them, and the
//! tables found by scanning (cached messages, reactions, the inbox) by rowid,
//! [`ROWS_PER_TURN`] at a time. Elsewhere (PostgreSQL, whose writers do not wait for each
//! other) each part runs whole. Every change stops matching a row once it changed it, so a
//! forget cut short (a crash, a failed turn) is finished by running it again.

use super::pseudonym::{member_hash, new_key, pseudonym};
use super::{ForgetMember, MemberState, PSEUDONYM_SLOT, REMOVED_TEXT};
use crate::clock::Millis;
use crate::ids::{TeamId, UserId};
use crate::store::StoreResult;
use crate::store::sql::{Dialect, Executor, Statement, in_list};
use crate::store::sql_tx::COUNTS;

/// Insights of the workspace per turn, with their revisions, votes, replies and status
/// changes. Each turn costs a commit and a wait for the inbox writer besides its statements,
/// so fewer, larger turns finish sooner and smaller ones hold acknowledgements for less: 400
/// keeps a forget of 10,000 insights, replies and votes under 2 s here, each turn ~15 ms
/// (docs/BENCHMARKS.md, "Forgetting a member").
pub(super) const INSIGHTS_PER_TURN: i64 = 400;

/// Rows of a scanned table looked at per turn.
pub(super) const ROWS_PER_TURN: i64 = 500;

/// A forget under way, owned, to move into each turn's work.
pub(super) struct Forgetting {
    pub(super) team: TeamId,
    pub(super) user: UserId,
    pub(super) at: Millis,
    /// Empty until the first turn made it.
    pub(super) pseudonym: String,
    pub(super) inbox_row: Option<(i64, String)>,
}

impl Forgetting {
    pub(super) fn new(member: &ForgetMember<'_>) -> Self {
        Self {
            team: member.team_id.clone(),
            user: member.user_id.clone(),
            at: member.at,
            pseudonym: String::new(),
            inbox_row: member.inbox_row.clone(),
        }
    }

    pub(super) fn with_pseudonym(self, pseudonym: &str) -> Self {
        Self {
            pseudonym: pseudonym.to_owned(),
            ..self
        }
    }

    /// `sql` with `$1` team, `$2` member, `$3` pseudonym and `$4` the removed text bound.
    fn statement(&self, sql: String) -> Statement {
        Statement::new(sql)
            .bind(&self.team)
            .bind(&self.user)
            .bind(self.pseudonym.as_str())
            .bind(REMOVED_TEXT)
    }
}

/// Rows changed per change, named for [`super::Forgotten::changes`].
pub(super) type Counts = Vec<(&'static str, u64)>;

/// Which rows of a change one statement takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// All of them.
    All,
    /// A turn's share: for a change attached to insights, those in the id list bound as `$5`;
    /// for a scanned table, rowids `$5 < rowid <= $6`.
    Turn,
}

/// Where a change's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Attached to the workspace's insights by this column.
    Attached(&'static str),
    /// Anywhere in the table: found by a scan.
    Scanned,
    /// A few rows at most (a member's names, memberships, settings).
    Few,
}

/// One change of a forget. Its statement takes `$1` team, `$2` member, `$3` pseudonym, `$4`
/// the removed text, and the turn's share as [`Scope::Turn`] says.
pub(super) struct Change {
    what: &'static str,
    table: &'static str,
    kind: Kind,
    /// The `SET` clause; `None` deletes the rows.
    set: Option<String>,
    /// Which rows, besides the scope (which alone limits an attached change to the
    /// workspace: a condition on the team would make SQLite walk the team's index in every
    /// turn). A changed row must stop matching.
    condition: String,
    /// The rows are votes or replies: their insights' counts are refreshed in the same
    /// transaction, so no reader ever sees a count that disagrees with the rows.
    recounts: bool,
}

impl Change {
    fn delete(what: &'static str, table: &'static str, kind: Kind, condition: String) -> Self {
        Self {
            what,
            table,
            kind,
            set: None,
            condition,
            recounts: false,
        }
    }

    fn update(what: &'static str, table: &'static str, kind: Kind, set: &str, condition: String) -> Self {
        Self {
            set: Some(set.to_owned()),
            ..Self::delete(what, table, kind, condition)
        }
    }

    fn recounting(self) -> Self {
        Self {
            recounts: true,
            ..self
        }
    }

    /// The statement changing the rows in `scope`; with `RETURNING insight_id` when it
    /// recounts. A turn's share of a scanned table is read by rowid alone (SQLite's `NOT
    /// INDEXED`): an index on the team would walk all of its rows in every turn.
    fn sql(&self, scope: Scope, dialect: Dialect) -> String {
        let (mut table, condition) = (self.table.to_owned(), &self.condition);
        let share = match (self.kind, scope) {
            (Kind::Attached(column), Scope::All) => Some(format!(
                "{column} IN (SELECT id FROM insights WHERE team_id = $1)"
            )),
            (Kind::Attached(column), Scope::Turn) => Some(in_list(dialect, column, "$5")),
            (Kind::Scanned, Scope::Turn) => {
                table.push_str(" NOT INDEXED");
                Some("rowid > $5 AND rowid <= $6".to_owned())
            }
            (Kind::Scanned | Kind::Few, _) => None,
        };
        let action = match &self.set {
            Some(set) => format!("UPDATE {table} SET {set}"),
            None => format!("DELETE FROM {table}"),
        };
        let rows = match share {
            Some(share) => format!("{share} AND {condition}"),
            None => condition.clone(),
        };
        let returning = if self.recounts {
            " RETURNING insight_id"
        } else {
            ""
        };
        format!("{action} WHERE {rows}{returning}")
    }
}

/// Every change of a forget, in the order they run: first those attached to insights, then
/// the scanned tables, then the few. Within an insight's share, earlier texts of the member's
/// insights go while the insights still name them as author, and authored insights are
/// rewritten before anything that matches texts by id, so their texts are not matched twice.
fn changes() -> Vec<Change> {
    use Kind::{Attached, Few, Scanned};
    // Others' texts that name the member by id: the id becomes the pseudonym.
    let renamed = |what, table, kind, scope: &str| {
        Change::update(
            what,
            table,
            kind,
            "text = REPLACE(text, $2, $3)",
            format!("{scope}text LIKE '%' || $2 || '%'"),
        )
    };
    let theirs = || "team_id = $1 AND user_id = $2".to_owned();
    let mut changes = vec![
        Change::update(
            "earlier texts of their insights removed",
            "insight_revisions",
            Attached("insight_id"),
            "text = $4",
            "text <> $4 AND EXISTS (SELECT 1 FROM insights i \
             WHERE i.id = insight_revisions.insight_id AND i.author_id = $2)"
                .to_owned(),
        ),
        Change::update(
            "insights they authored pseudonymised",
            "insights",
            Attached("id"),
            "text = $4, author_id = $3, customer_company = NULL",
            "author_id = $2".to_owned(),
        ),
        Change::delete(
            "votes deleted",
            "votes",
            Attached("insight_id"),
            "user_id = $2".to_owned(),
        )
        .recounting(),
        Change::delete(
            "replies deleted",
            "replies",
            Attached("insight_id"),
            "user_id = $2".to_owned(),
        )
        .recounting(),
        Change::update(
            "status changes unattributed",
            "status_changes",
            Attached("insight_id"),
            "changed_by = NULL",
            "changed_by = $2".to_owned(),
        ),
        renamed("others' insights naming them", "insights", Attached("id"), ""),
        renamed(
            "others' earlier texts naming them",
            "insight_revisions",
            Attached("insight_id"),
            "",
        ),
        renamed(
            "others' replies naming them",
            "replies",
            Attached("insight_id"),
            "",
        ),
        Change::delete("cached messages deleted", "messages", Scanned, theirs()),
        Change::delete(
            "reactions (tags and votes given) deleted",
            "reactions",
            Scanned,
            theirs(),
        ),
        renamed(
            "others' cached messages naming them",
            "messages",
            Scanned,
            "team_id = $1 AND ",
        ),
        Change::delete(
            "finished inbox rows deleted",
            "inbox",
            Scanned,
            "team_id = $1 AND state IN ('done', 'dead') AND event_id LIKE '%' || $2 || '%'".to_owned(),
        ),
        // The row stays, emptied, so that Slack's retry of a delivery already handled is still
        // recognised by its event id (which names no member) and not applied again.
        Change::update(
            "finished inbox rows emptied",
            "inbox",
            Scanned,
            "payload = '{}', last_error = NULL",
            "team_id = $1 AND state IN ('done', 'dead') \
             AND (payload LIKE '%' || $2 || '%' OR last_error LIKE '%' || $2 || '%')"
                .to_owned(),
        ),
        Change::delete("activity days deleted", "member_activity", Few, theirs()),
        Change::delete("circle memberships deleted", "circle_members", Few, theirs()),
        Change::delete("names deleted", "people", Few, theirs()),
    ];
    for (table, column) in [
        ("circles", "changed_by"),
        ("emoji_tags", "changed_by"),
        ("rules", "created_by"),
        ("prompts", "created_by"),
        ("workspace_settings", "updated_by"),
        ("installations", "installer_user_id"),
    ] {
        changes.push(Change::update(
            "settings unattributed",
            table,
            Few,
            &format!("{column} = NULL"),
            format!("team_id = $1 AND {column} = $2"),
        ));
    }
    changes
}

/// Every change's name, in order, each once, for a [`super::Forgotten`] that lists them all.
pub(super) fn change_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for change in changes() {
        if !names.contains(&change.what) {
            names.push(change.what);
        }
    }
    names
}

/// The scanned tables, each once.
pub(super) fn scanned_tables() -> Vec<&'static str> {
    let mut tables: Vec<&'static str> = Vec::new();
    for change in changes() {
        if change.kind == Kind::Scanned && !tables.contains(&change.table) {
            tables.push(change.table);
        }
    }
    tables
}

/// The first turn: the workspace's key (made now if it has none), and the member recorded as
/// forgotten before anything goes, so that a forget cut short is known to have begun. Their
/// pseudonym, and whether they were forgotten before.
pub(super) async fn begin<E: Executor>(c: &mut E, forgetting: &Forgetting) -> StoreResult<(String, bool)> {
    let (team, user) = (&forgetting.team, &forgetting.user);
    let key = workspace_key(c, team, forgetting.at).await?;
    let hash = member_hash(&key, team, user);
    let again = remember(c, team, &hash, forgetting.at).await?;
    Ok((pseudonym(&hash), again))
}

/// Runs the changes attached to insights: on all of the workspace's insights, or on the
/// next [`INSIGHTS_PER_TURN`] after id `after` (SQLite only: they are found by rowid, which
/// walks no index of the team). The last insight id taken, if any.
pub(super) async fn attached<E: Executor>(
    c: &mut E,
    forgetting: &Forgetting,
    after: Option<i64>,
) -> StoreResult<(Option<i64>, Counts)> {
    let (scope, share) = match after {
        None => (Scope::All, None),
        Some(after) => {
            let ids: Vec<i64> = c
                .fetch_all(
                    &Statement::new("SELECT id FROM insights NOT INDEXED WHERE id > $2 AND team_id = $1 ORDER BY id LIMIT $3")
                        .bind(&forgetting.team)
                        .bind(after)
                        .bind(INSIGHTS_PER_TURN),
                )
                .await?;
            if ids.is_empty() {
                return Ok((None, Vec::new()));
            }
            (Scope::Turn, Some(ids))
        }
    };
    let mut counts = Vec::new();
    let mut touched: Vec<i64> = Vec::new();
    for change in changes()
        .iter()
        .filter(|change| matches!(change.kind, Kind::Attached(_)))
    {
        let mut statement = forgetting.statement(change.sql(scope, c.dialect()));
        if let Some(ids) = &share {
            statement = statement.bind(ids.clone());
        }
        let rows = if change.recounts {
            let insights: Vec<i64> = c.fetch_all(&statement).await?;
            let rows = insights.len() as u64;
            touched.extend(insights);
            rows
        } else {
            c.execute(&statement).await?
        };
        counts.push((change.what, rows));
    }
    touched.sort_unstable();
    touched.dedup();
    refresh_counts(c, touched).await?;
    let last = share.and_then(|ids| ids.last().copied());
    Ok((last, counts))
}

/// Runs the changes of scanned table `table`: on all of its rows, or on rowids
/// `after < rowid <= upto`.
pub(super) async fn scanned<E: Executor>(
    c: &mut E,
    forgetting: &Forgetting,
    table: &'static str,
    rowids: Option<(i64, i64)>,
) -> StoreResult<Counts> {
    let mut counts = Vec::new();
    for change in changes()
        .iter()
        .filter(|change| change.kind == Kind::Scanned && change.table == table)
    {
        let rows = match rowids {
            None => {
                c.execute(&forgetting.statement(change.sql(Scope::All, c.dialect())))
                    .await?
            }
            Some((after, upto)) => {
                let statement = forgetting
                    .statement(change.sql(Scope::Turn, c.dialect()))
                    .bind(after)
                    .bind(upto);
                c.execute(&statement).await?
            }
        };
        counts.push((change.what, rows));
    }
    Ok(counts)
}

/// The rowids of `table` a turn-by-turn scan walks: just before the first, and the last.
pub(super) fn rowid_bounds(table: &str) -> Statement {
    Statement::new(format!("SELECT MIN(rowid) - 1, MAX(rowid) FROM {table}"))
}

/// The last turn: the few rows (names, memberships, activity, settings), the product-user
/// list, and the inbox row this forget runs for.
pub(super) async fn finish<E: Executor>(c: &mut E, forgetting: &Forgetting) -> StoreResult<Counts> {
    let mut counts = Vec::new();
    for change in changes().iter().filter(|change| change.kind == Kind::Few) {
        let rows = c
            .execute(&forgetting.statement(change.sql(Scope::All, c.dialect())))
            .await?;
        counts.push((change.what, rows));
    }
    let product_users = drop_product_user(c, &forgetting.team, &forgetting.user).await?;
    counts.push(("settings unattributed", product_users));
    if let Some((id, payload)) = &forgetting.inbox_row {
        let payload = payload.replace(PSEUDONYM_SLOT, &forgetting.pseudonym);
        c.execute(
            &Statement::new("UPDATE inbox SET payload = $2 WHERE id = $1")
                .bind(*id)
                .bind(payload),
        )
        .await?;
    }
    Ok(counts)
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
