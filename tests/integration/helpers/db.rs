//! A fresh database per test: a SQLite file in a temp dir, or a new PostgreSQL database on the
//! local server (created from the `test` database, dropped afterwards).

use std::sync::Arc;

use circlet::store::{self, SharedStore};
use sqlx::Connection;

pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("circlet.db").display());
        TestDb {
            backend: Backend::Sqlite,
            url,
            postgres_name: None,
            _dir: Some(Arc::new(dir)),
        }
    }

    pub async fn postgres() -> TestDb {
        let name = format!("circlet_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        TestDb {
            backend: Backend::Postgres,
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            postgres_name: Some(name),
            _dir: None,
        }
    }

    /// Another handle on the same database (for a second app); only the first drops it.
    pub fn handle(&self) -> TestDb {
        TestDb {
            backend: self.backend,
            url: self.url.clone(),
            postgres_name: None,
            _dir: self._dir.clone(),
        }
    }

    /// Runs raw statements (tests stage states the app cannot reach by itself, e.g. a crash
    /// between two writes).
    pub async fn execute(&self, statements: &[String]) {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
                for sql in statements {
                    sqlx::query(sql).execute(&mut conn).await.expect(sql);
                }
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                for sql in statements {
                    sqlx::query(sql).execute(&mut conn).await.expect(sql);
                }
            }
        }
    }

    /// The one number `sql` selects, read on a connection of its own.
    pub async fn query_i64(&self, sql: &str) -> i64 {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect(sql)
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect(sql)
            }
        }
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> SharedStore {
        let store = store::connect(&self.url).await.expect("connect store");
        store.migrate().await.expect("migrate");
        store
    }

    /// Makes the database unreachable for everything connected to it: the PostgreSQL database
    /// is dropped (open connections are terminated); for SQLite the caller closes its pool.
    pub async fn take_down_postgres(&self) {
        if let Some(name) = &self.postgres_name {
            drop_database(name).await;
        }
    }
}

async fn drop_database(name: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs outside any runtime guarantee; use a small runtime of our own.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                runtime.block_on(drop_database(&name));
            }
        })
        .join();
    }
}

/// Runs one async test body against SQLite and against PostgreSQL, as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($db:ident : TestDb) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($db: $crate::helpers::db::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::helpers::db::TestDb::new($crate::helpers::db::Backend::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::helpers::db::TestDb::new($crate::helpers::db::Backend::Postgres).await).await;
            }
        }
    };
}
