//! The inbox's rows, for both backends: [`InboxStore`]'s operations written once over an
//! [`Executor`], the dialects' differences side by side.

use super::sql::{Columns, Dialect, Executor, FromRow, PerDialect, Row, Statement, in_list};
use super::{PRUNE_SLICE, StoreError, StoreResult};
use crate::clock::Millis;
use crate::inbox::{InboxCounts, InboxKind, InboxRow, InboxState, NewInboxItem, Requeue, Settlement};

/// Interactions and commands a claim takes on top of its limit, ahead of older events.
pub(super) const URGENT_CLAIM: i64 = 8;

const ROW_COLUMNS: &str =
    "id, team_id, event_id, kind, event_type, payload, received_at, attempts, state, last_error";

impl FromRow for InboxRow {
    fn from_row(row: &dyn Row) -> StoreResult<Self> {
        let mut columns = Columns::new(row);
        let id: i64 = columns.take()?;
        let team_id = columns.take()?;
        let event_id = columns.take()?;
        let kind: String = columns.take()?;
        let event_type = columns.take()?;
        let payload = columns.take()?;
        let received_at = columns.take()?;
        let attempts: i64 = columns.take()?;
        let state: String = columns.take()?;
        Ok(InboxRow {
            id,
            team_id,
            event_id,
            kind: kind
                .parse::<InboxKind>()
                .map_err(|_| StoreError::Corrupt(format!("inbox {id}: unknown kind {kind:?}")))?,
            event_type,
            payload,
            received_at,
            attempts: attempts.max(0) as u32,
            state: state
                .parse::<InboxState>()
                .map_err(|_| StoreError::Corrupt(format!("inbox {id}: unknown state {state:?}")))?,
            last_error: columns.take()?,
        })
    }
}

/// One event into the inbox, skipping an event id already stored; its parameters in the
/// columns' order (the inbox writer's SQLite path binds them by position).
pub(super) const INSERT_ONE: &str = "INSERT INTO inbox (team_id, event_id, kind, event_type, payload, received_at, run_after) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (event_id) DO NOTHING";

/// A claim's token: `owner/random`, or just random without an owner.
pub(super) fn new_claim_token(owner: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    if owner.is_empty() {
        random
    } else {
        format!("{owner}/{random}")
    }
}

/// Stores `items`, skipping event ids already stored; how many were new. PostgreSQL takes the
/// batch in one statement (a round trip per event is the trap there); SQLite steps one
/// prepared single-row insert per event, inside the caller's transaction.
pub(super) async fn insert<E: Executor>(ex: &mut E, items: &[NewInboxItem]) -> StoreResult<u64> {
    if items.is_empty() {
        return Ok(0);
    }
    match ex.dialect() {
        Dialect::Postgres => {
            let column = |f: fn(&NewInboxItem) -> &str| {
                items.iter().map(|item| f(item).to_owned()).collect::<Vec<_>>()
            };
            let statement = Statement::new(
                "INSERT INTO inbox (team_id, event_id, kind, event_type, payload, received_at, run_after) \
                 SELECT t, e, k, y, p, r, r FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::bigint[]) AS batch(t, e, k, y, p, r) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(column(|item| &item.team_id))
            .bind(column(|item| &item.event_id))
            .bind(column(|item| item.kind.as_str()))
            .bind(column(|item| &item.event_type))
            .bind(column(|item| &item.payload))
            .bind(items.iter().map(|item| item.received_at).collect::<Vec<_>>());
            ex.execute(&statement).await
        }
        Dialect::Sqlite => {
            let mut stored = 0;
            for item in items {
                let statement = Statement::new(INSERT_ONE)
                    .bind(&item.team_id)
                    .bind(&item.event_id)
                    .bind(item.kind.as_str())
                    .bind(&item.event_type)
                    .bind(&item.payload)
                    .bind(item.received_at);
                stored += ex.execute(&statement).await?;
            }
            Ok(stored)
        }
    }
}

/// The claim: due rows in `run_after` order, plus up to [`URGENT_CLAIM`] interactions and
/// commands ahead of older events (people wait on those). $1 lease end, $2 token, $3 now,
/// $4 limit, $5 urgent rows. PostgreSQL locks what it takes (`SKIP LOCKED`: no two replicas
/// take a row) and matches the ids with `= ANY(ARRAY(…))`, so the update finds each row by
/// primary key (`id IN (…) OR id IN (…)` made it scan the whole table on every claim);
/// SQLite runs the one statement under its write lock.
const CLAIM: PerDialect = PerDialect {
    sqlite: "UPDATE inbox SET state = 'running', attempts = attempts + 1, run_after = $1, claim_token = $2 \
         WHERE id IN (SELECT id FROM inbox WHERE state IN ('pending', 'running') \
                      AND kind IN ('interaction', 'command') AND run_after <= $3 ORDER BY run_after LIMIT $5) \
            OR id IN (SELECT id FROM inbox WHERE state IN ('pending', 'running') AND run_after <= $3 \
                      ORDER BY run_after LIMIT $4) \
         RETURNING id, team_id, event_id, kind, event_type, payload, received_at, attempts, state, last_error",
    postgres: "WITH urgent AS (SELECT id FROM inbox WHERE state IN ('pending', 'running') \
                         AND kind IN ('interaction', 'command') AND run_after <= $3 \
                         ORDER BY run_after LIMIT $5 FOR UPDATE SKIP LOCKED), \
              due AS (SELECT id FROM inbox WHERE state IN ('pending', 'running') AND run_after <= $3 \
                      ORDER BY run_after LIMIT $4 FOR UPDATE SKIP LOCKED) \
         UPDATE inbox SET state = 'running', attempts = attempts + 1, run_after = $1, claim_token = $2 \
         WHERE id = ANY(ARRAY(SELECT id FROM urgent UNION SELECT id FROM due)) \
         RETURNING id, team_id, event_id, kind, event_type, payload, received_at, attempts, state, last_error",
};

/// The claim's statement, for `EXPLAIN` in tests.
pub(super) fn claim_statement(
    dialect: Dialect,
    token: &str,
    now: Millis,
    lease_end: Millis,
    limit: u32,
) -> Statement {
    Statement::new(CLAIM.of(dialect))
        .bind(lease_end)
        .bind(token)
        .bind(now)
        .bind(i64::from(limit))
        .bind(URGENT_CLAIM)
}

/// Claims due rows for `token` until `lease_end`, in id order.
pub(super) async fn claim<E: Executor>(
    ex: &mut E,
    token: &str,
    now: Millis,
    lease_end: Millis,
    limit: u32,
) -> StoreResult<Vec<InboxRow>> {
    let statement = claim_statement(ex.dialect(), token, now, lease_end, limit);
    let mut rows: Vec<InboxRow> = ex.fetch_all(&statement).await?;
    rows.sort_by_key(|row| row.id);
    Ok(rows)
}

pub(super) async fn extend_claim<E: Executor>(ex: &mut E, token: &str, until: Millis) -> StoreResult<u64> {
    let statement =
        Statement::new("UPDATE inbox SET run_after = $1 WHERE claim_token = $2 AND state = 'running'")
            .bind(until)
            .bind(token);
    ex.execute(&statement).await
}

/// Rows a dead process left running: on SQLite all of them (one process owns the file), on
/// PostgreSQL those whose token names `owner` ($2).
const RELEASE_CLAIMS_OF: PerDialect = PerDialect {
    sqlite: "UPDATE inbox SET state = 'pending', run_after = $1, claim_token = NULL WHERE state = 'running'",
    postgres: "UPDATE inbox SET state = 'pending', run_after = $1, claim_token = NULL \
               WHERE state = 'running' AND left(claim_token, length($2) + 1) = $2 || '/'",
};

pub(super) async fn release_claims_of<E: Executor>(ex: &mut E, owner: &str, now: Millis) -> StoreResult<u64> {
    if owner.is_empty() && ex.dialect() == Dialect::Postgres {
        return Ok(0);
    }
    let statement = Statement::new(RELEASE_CLAIMS_OF.of(ex.dialect()))
        .bind(now)
        .bind(owner);
    ex.execute(&statement).await
}

/// `attempts - 1`, never below zero.
const ONE_ATTEMPT_BACK: PerDialect = PerDialect {
    sqlite: "MAX(attempts - 1, 0)",
    postgres: "GREATEST(attempts - 1, 0)",
};

/// Records outcomes: finished rows, the common case, in one statement whatever their number.
pub(super) async fn settle<E: Executor>(
    ex: &mut E,
    token: &str,
    settlements: &[Settlement],
    now: Millis,
) -> StoreResult<()> {
    let dialect = ex.dialect();
    let done: Vec<i64> = settlements
        .iter()
        .filter_map(|s| match s {
            Settlement::Done { id } => Some(*id),
            _ => None,
        })
        .collect();
    if !done.is_empty() {
        let sql = format!(
            "UPDATE inbox SET state = 'done', finished_at = $1, claim_token = NULL, last_error = NULL \
             WHERE claim_token = $2 AND {}",
            in_list(dialect, "id", "$3")
        );
        ex.execute(&Statement::new(sql).bind(now).bind(token).bind(done))
            .await?;
    }
    for settlement in settlements {
        let statement = match settlement {
            Settlement::Done { .. } => continue,
            Settlement::Retry { id, run_after, error } => Statement::new(
                "UPDATE inbox SET state = 'pending', run_after = $1, claim_token = NULL, last_error = $2 \
                 WHERE id = $3 AND claim_token = $4",
            )
            .bind(*run_after)
            .bind(error)
            .bind(*id)
            .bind(token),
            Settlement::Dead { id, error } => Statement::new(
                "UPDATE inbox SET state = 'dead', finished_at = $1, claim_token = NULL, last_error = $2 \
                 WHERE id = $3 AND claim_token = $4",
            )
            .bind(now)
            .bind(error)
            .bind(*id)
            .bind(token),
            Settlement::Postpone { id, run_after } => Statement::new(format!(
                "UPDATE inbox SET state = 'pending', run_after = $1, claim_token = NULL, attempts = {} \
                 WHERE id = $2 AND claim_token = $3",
                ONE_ATTEMPT_BACK.of(dialect)
            ))
            .bind(*run_after)
            .bind(*id)
            .bind(token),
        };
        ex.execute(&statement).await?;
    }
    Ok(())
}

/// Gives claimed, unstarted rows back, their attempt given back too.
pub(super) async fn release<E: Executor>(
    ex: &mut E,
    token: &str,
    ids: &[i64],
    now: Millis,
) -> StoreResult<()> {
    let dialect = ex.dialect();
    let sql = format!(
        "UPDATE inbox SET state = 'pending', run_after = $1, claim_token = NULL, attempts = {} \
         WHERE claim_token = $2 AND {}",
        ONE_ATTEMPT_BACK.of(dialect),
        in_list(dialect, "id", "$3")
    );
    ex.execute(&Statement::new(sql).bind(now).bind(token).bind(ids))
        .await?;
    Ok(())
}

/// Deletes up to [`PRUNE_SLICE`] finished rows older than `finished_before`.
pub(super) async fn prune_slice<E: Executor>(ex: &mut E, finished_before: Millis) -> StoreResult<u64> {
    let statement = Statement::new(
        "DELETE FROM inbox WHERE id IN \
         (SELECT id FROM inbox WHERE state = 'done' AND finished_at < $1 LIMIT $2)",
    )
    .bind(finished_before)
    .bind(PRUNE_SLICE);
    ex.execute(&statement).await
}

pub(super) async fn counts<E: Executor>(ex: &mut E) -> StoreResult<InboxCounts> {
    let rows: Vec<(String, i64)> = ex
        .fetch_all(&Statement::new(
            "SELECT state, COUNT(*) FROM inbox GROUP BY state",
        ))
        .await?;
    let mut counts = InboxCounts::default();
    for (state, n) in rows {
        if let Ok(state) = state.parse::<InboxState>() {
            counts.set(state, n.max(0) as u64);
        }
    }
    Ok(counts)
}

pub(super) async fn list<E: Executor>(
    ex: &mut E,
    state: Option<InboxState>,
    limit: u32,
) -> StoreResult<Vec<InboxRow>> {
    let statement = Statement::new(format!(
        "SELECT {ROW_COLUMNS} FROM inbox WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"
    ))
    .bind(state.map(InboxState::as_str))
    .bind(i64::from(limit));
    ex.fetch_all(&statement).await
}

pub(super) async fn find_by_event_id<E: Executor>(
    ex: &mut E,
    event_id: &str,
) -> StoreResult<Option<InboxRow>> {
    let statement =
        Statement::new(format!("SELECT {ROW_COLUMNS} FROM inbox WHERE event_id = $1")).bind(event_id);
    ex.fetch_optional(&statement).await
}

pub(super) async fn requeue_dead<E: Executor>(ex: &mut E, which: Requeue, now: Millis) -> StoreResult<u64> {
    let statement = Statement::new(
        "UPDATE inbox SET state = 'pending', attempts = 0, run_after = $1, finished_at = NULL \
         WHERE state = 'dead' AND ($2 IS NULL OR id = $2)",
    )
    .bind(now)
    .bind(which.id());
    ex.execute(&statement).await
}
