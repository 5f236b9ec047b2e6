//! The schema as the database describes it (sqlite_master / information_schema), so tests over
//! "every table" cover tables added later without being told.

use super::db::{Backend, TestDb};

/// One column of a table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// Whether an insert must give it a value (NOT NULL without a default, not generated).
    pub required: bool,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Boolean,
}

/// Every table of the application (migrations' bookkeeping left out), with its columns.
pub async fn tables(db: &TestDb) -> Vec<(String, Vec<Column>)> {
    let rows: Vec<(String, String, String, bool)> = match db.backend {
        Backend::Sqlite => {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            // An INTEGER PRIMARY KEY is the rowid: SQLite numbers it.
            sqlx::query_as(
                "SELECT m.name, p.name, upper(p.type), \
                 p.\"notnull\" = 1 AND p.dflt_value IS NULL AND NOT (p.pk = 1 AND upper(p.type) = 'INTEGER') \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' \
                 ORDER BY m.name, p.cid",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap()
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_as(
                "SELECT table_name::text, column_name::text, upper(data_type::text), \
                 is_nullable = 'NO' AND column_default IS NULL \
                 FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%' \
                 ORDER BY table_name, ordinal_position",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap()
        }
    };
    let mut tables: Vec<(String, Vec<Column>)> = Vec::new();
    for (table, name, kind, required) in rows {
        let kind = if kind.contains("BOOL") {
            Kind::Boolean
        } else if kind.contains("INT") {
            Kind::Integer
        } else {
            Kind::Text
        };
        let column = Column { name, required, kind };
        match tables.last_mut() {
            Some((last, columns)) if *last == table => columns.push(column),
            _ => tables.push((table, vec![column])),
        }
    }
    tables
}

/// Whether a column names a workspace (`team_id`, `home_team_id`, `author_team_id`, …) or an
/// insight (whose workspace it then belongs to).
pub fn names_a_workspace(column: &str) -> bool {
    column.ends_with("team_id") || column == "insight_id"
}

/// Values a row must have to be left alone by the app that reads it: an inbox row finished, so
/// no worker runs it.
fn fixed(table: &str, column: &str) -> Option<&'static str> {
    match (table, column) {
        ("inbox", "state") => Some("'done'"),
        ("inbox", "kind") => Some("'task'"),
        _ => None,
    }
}

/// Writes one row of workspace `team` into every table that names a workspace: every text
/// column holds the team id (so [`rows_naming`] finds the row and
/// unique columns stay unique per workspace), every number 1, an insight column the workspace's
/// own insight. Returns the tables filled.
pub async fn fill_every_table(db: &TestDb, team: &str) -> Vec<String> {
    let tables = tables(db).await;
    // The insight first: other tables point at it.
    let (insights, rest): (Vec<_>, Vec<_>) = tables.into_iter().partition(|(name, _)| name == "insights");
    let mut filled = Vec::new();
    let mut insight_id = 0;
    for (table, columns) in insights.into_iter().chain(rest) {
        if !columns.iter().any(|c| names_a_workspace(&c.name)) {
            continue;
        }
        let given: Vec<&Column> = columns
            .iter()
            .filter(|c| c.required || names_a_workspace(&c.name) || fixed(&table, &c.name).is_some())
            .collect();
        let names: Vec<String> = given.iter().map(|c| format!("\"{}\"", c.name)).collect();
        let values: Vec<String> = given
            .iter()
            .map(|c| match (fixed(&table, &c.name), c.name.as_str(), c.kind) {
                (Some(value), _, _) => value.to_owned(),
                (None, "insight_id", _) => insight_id.to_string(),
                (None, _, Kind::Text) => format!("'{team}'"),
                (None, _, Kind::Integer) => "1".to_owned(),
                (None, _, Kind::Boolean) => "FALSE".to_owned(),
            })
            .collect();
        db.execute(&[format!(
            "INSERT INTO \"{table}\" ({}) VALUES ({})",
            names.join(", "),
            values.join(", ")
        )])
        .await;
        if table == "insights" {
            insight_id = db
                .query_i64(&format!("SELECT id FROM insights WHERE team_id = '{team}'"))
                .await;
        }
        filled.push(table);
    }
    filled
}

/// Every `table.column` holding a value that contains `needle`, found from the catalog (so a
/// table added later is searched too). PostgreSQL's text columns only: a number never holds an
/// id.
pub async fn rows_naming(db: &TestDb, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (table, columns) in tables(db).await {
        for column in columns {
            let name = &column.name;
            let sql = match (db.backend, column.kind) {
                (Backend::Sqlite, _) => {
                    format!(
                        "SELECT COUNT(*) FROM \"{table}\" WHERE CAST(\"{name}\" AS TEXT) LIKE '%{needle}%'"
                    )
                }
                (Backend::Postgres, Kind::Text) => {
                    format!("SELECT COUNT(*) FROM \"{table}\" WHERE \"{name}\"::text LIKE '%{needle}%'")
                }
                (Backend::Postgres, _) => continue,
            };
            if db.query_i64(&sql).await > 0 {
                found.push(format!("{table}.{name}"));
            }
        }
    }
    found
}
