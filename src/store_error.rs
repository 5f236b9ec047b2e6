//! What the database can fail with, for every layer that talks to it: whether a failure
//! means "not usable right now" (503, retried) or "this statement is wrong" decides what the
//! request path answers and whether queued work is tried again.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (got {scheme:?})")]
    UnsupportedUrl { scheme: String },
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Query(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored row is invalid: {0}")]
    Corrupt(String),
    /// From SQLite's direct connection (`sqlite_direct`).
    #[error("database unavailable: {0}")]
    SqliteUnavailable(#[source] rusqlite::Error),
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    /// The thread running a blocking write ended before it answered (runtime shutdown).
    #[error("database unavailable: the write was cut short")]
    WriteAborted,
    /// The store was closed (shutdown).
    #[error("database unavailable: the store is closed")]
    Closed,
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Tls(_) => StoreError::Unavailable(err),
            sqlx::Error::Database(ref db) if is_unavailable_code(db.code().as_deref()) => {
                StoreError::Unavailable(err)
            }
            other => StoreError::Query(other),
        }
    }
}

/// Whether a database error means "the store is not usable right now" (reported as 503 so
/// Slack retries) rather than "this statement is wrong".
fn is_unavailable_code(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    match code.parse::<i32>() {
        Ok(sqlite_code) => is_unavailable_sqlite_code(sqlite_code),
        // PostgreSQL SQLSTATE: connection exceptions, operator intervention (shutdown),
        // insufficient resources, and a dropped database.
        Err(_) => {
            code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") || code == "3D000"
        }
    }
}

/// SQLite result codes for "not usable right now": BUSY, LOCKED, READONLY, IOERR, FULL,
/// CANTOPEN. The primary code is the low byte of an extended one.
pub fn is_unavailable_sqlite_code(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
}

impl StoreError {
    /// Whether trying the same work again later may succeed: the database was unavailable, or
    /// PostgreSQL rolled the transaction back for another's sake (a serialization failure or
    /// deadlock, SQLSTATE class 40; a lock not available, 55P03). A statement that is wrong, or
    /// a row that cannot be read, fails the same way every time.
    pub fn is_transient(&self) -> bool {
        if self.is_unavailable() {
            return true;
        }
        match self {
            StoreError::Query(sqlx::Error::Database(db)) => db
                .code()
                .is_some_and(|code| code.starts_with("40") || code == "55P03"),
            _ => false,
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::SqliteUnavailable(_)
                | StoreError::WriteAborted
                | StoreError::Closed
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(ref failure, _)
                if is_unavailable_sqlite_code(failure.extended_code) =>
            {
                StoreError::SqliteUnavailable(err)
            }
            other => StoreError::Sqlite(other),
        }
    }
}
