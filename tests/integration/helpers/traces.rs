//! Looking for traces of a person in a whole database: SQLite's raw file bytes (database and
//! WAL), or every text and JSON column of every PostgreSQL table.

use sqlx::{Connection, Row};

use super::{Backend, TestDb};

/// The needles found anywhere in the database, each with where.
pub async fn find(db: &TestDb, needles: &[&str]) -> Vec<String> {
    match db.backend {
        Backend::Sqlite => in_sqlite_files(db, needles),
        Backend::Postgres => in_postgres_columns(db, needles).await,
    }
}

/// Every file SQLite keeps for the database: the database itself, its WAL and shared memory.
fn in_sqlite_files(db: &TestDb, needles: &[&str]) -> Vec<String> {
    let path = db.url.trim_start_matches("sqlite://");
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        for needle in needles {
            if bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
            {
                found.push(format!("{needle:?} in {file}"));
            }
        }
    }
    found
}

/// Every text, varchar and JSON column of every table in the `public` schema, as the catalog
/// lists them.
async fn in_postgres_columns(db: &TestDb, needles: &[&str]) -> Vec<String> {
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let columns = sqlx::query(
        "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c \
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
         AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb') \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut conn)
    .await
    .expect("columns");
    assert!(columns.len() > 20, "the catalog lists the schema's text columns");
    let mut found = Vec::new();
    for column in columns {
        let (table, name): (String, String) = (column.get(0), column.get(1));
        for needle in needles {
            let sql = format!("SELECT COUNT(*) FROM \"{table}\" WHERE strpos(\"{name}\"::text, $1) > 0");
            let count: i64 = sqlx::query_scalar(&sql)
                .bind(*needle)
                .fetch_one(&mut conn)
                .await
                .expect(&sql);
            if count > 0 {
                found.push(format!("{needle:?} in {table}.{name} ({count} rows)"));
            }
        }
    }
    found
}
