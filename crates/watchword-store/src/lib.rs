//! The only code that speaks SQL. One schema history and one query text serve SQLite and
//! PostgreSQL through sqlx's `Any` driver; the few dialect differences live in `dialect`.

pub mod access_reviews;
pub mod accounts;
pub mod advisories;
pub mod api_keys;
pub mod audit;
pub mod audit_streams;
pub mod changes;

/// What a node's listener heard on the changes channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// A change (or its own proof of listening): drop what is cached. `lag_ms`: how long after
    /// it was announced it was heard (by the announcing node's clock), when the payload says.
    Change { lag_ms: Option<i64> },
    /// The listening connection was lost: cache nothing until a notification comes through.
    Lost,
}
pub mod contacts;
pub mod devices;
mod dialect;
pub mod email_changes;
mod error;
pub mod instance;
pub mod invitations;
pub mod limits;
pub mod members;
pub mod mfa;
pub mod oauth;
pub mod outbox;
pub mod persons;
pub mod posture;
pub mod recovery;
pub mod reminders;
pub mod rows;
pub mod scim;
pub mod sealed;
pub mod security_reports;
pub mod sessions;
pub mod setup_links;
pub mod signups;
pub mod sms;
pub mod sqlite_keys;
pub mod sso;
pub mod webauthn;

pub use dialect::Dialect;
pub use error::StoreError;
pub use sqlx::AnyConnection as Conn;
pub use sqlx::Error as SqlxError;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Transaction};
use std::time::Duration;
use watchword_domain::token::TokenHash;

pub type Tx = Transaction<'static, Any>;

/// Handle to the database: a write pool and a read pool. On SQLite the write pool has a single
/// connection (SQLite has one writer; queueing in the pool beats busy errors) and readers run
/// concurrently in WAL mode. On PostgreSQL both are the same pool.
#[derive(Clone)]
pub struct Store {
    write: AnyPool,
    read: AnyPool,
    /// The readiness check's own connection (opened on first use, again after a failure):
    /// `/readyz` never queues behind the requests of a busy pool, which would take a loaded
    /// node out of its load balancer.
    health: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::AnyConnection>>>,
    url: String,
    dialect: Dialect,
    /// Where [`Self::listen`] connects.
    listen_url: String,
    /// SQLite files: the hot path's key reads and last-use writes through direct handles (see
    /// `sqlite_keys`).
    direct_keys: Option<std::sync::Arc<sqlite_keys::SqliteKeys>>,
}

impl Store {
    /// Connects, creating the SQLite file if needed. Does not migrate.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        install_default_drivers();
        let dialect = Dialect::from_url(url)?;
        let url = dialect.connect_url(url);
        let pool = |n: u32| {
            AnyPoolOptions::new()
                .max_connections(n)
                .acquire_timeout(Duration::from_secs(10))
                // A pool ping before each use is a round trip to the connection's worker
                // thread; an SQLite file connection cannot drop, so only PostgreSQL pings.
                .test_before_acquire(dialect == Dialect::Postgres)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        for stmt in dialect.session_setup() {
                            sqlx::query(stmt).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
        };
        let (write, read) = match dialect {
            Dialect::Sqlite => {
                let write = pool(1).connect(&url).await?;
                let read = pool(max_connections.max(2)).connect(&url).await?;
                (write, read)
            }
            Dialect::Postgres => {
                // One plain connection first, within 2 s: its error says what failed (refused,
                // unknown host, authentication) where the pool would only time out.
                use sqlx::Connection;
                let first = tokio::time::timeout(
                    Duration::from_secs(2),
                    sqlx::AnyConnection::connect(&url),
                )
                .await;
                match first {
                    Ok(Ok(c)) => {
                        let _ = c.close().await;
                    }
                    Ok(Err(e)) => {
                        return Err(StoreError::Unavailable(format!(
                            "cannot connect to PostgreSQL: {e}"
                        )));
                    }
                    Err(_) => {
                        return Err(StoreError::Unavailable(
                            "cannot connect to PostgreSQL: no answer within 2 s (is the host reachable?)"
                                .into(),
                        ));
                    }
                }
                let p = pool(max_connections).connect(&url).await?;
                (p.clone(), p)
            }
        };
        let direct_keys = match dialect {
            Dialect::Sqlite => sqlite_keys::SqliteKeys::for_url(&url).map(std::sync::Arc::new),
            Dialect::Postgres => None,
        };
        Ok(Self {
            write,
            read,
            health: Default::default(),
            url: url.clone(),
            dialect,
            listen_url: url,
            direct_keys,
        })
    }

    /// Sends the listening connection of [`Self::listen`] to `url` instead of the pool's URL
    /// (when the pool goes through a pooler).
    pub fn with_listen_url(mut self, url: Option<String>) -> Self {
        if let Some(url) = url {
            self.listen_url = url;
        }
        self
    }

    /// Applies the embedded, forward-only migrations. Migrations this binary does not know were
    /// applied by a newer release (a rolling upgrade): they only expand the schema, so an older
    /// node still serves on it.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.set_ignore_missing(true);
        migrator.run(&self.write).await.map_err(StoreError::Migrate)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`), so another process writing meanwhile makes it wait (busy timeout) instead of
    /// failing when a read would later upgrade to a write.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self.dialect.begin_statement() {
            Some(stmt) => self.write.begin_with(stmt).await?,
            None => self.write.begin().await?,
        })
    }

    /// A connection for reads outside a transaction.
    pub async fn read(&self) -> Result<PoolConnection<Any>, StoreError> {
        Ok(self.read.acquire().await?)
    }

    /// Calls `on_change` for every notification on `channel`, and also whenever the listening
    /// connection was lost (notifications may have been missed). Returns once listening, so a
    /// change committed afterwards is seen. PostgreSQL only; on SQLite there is nothing to hear
    /// (one node) and this returns at once.
    pub async fn listen(
        &self,
        channel: &'static str,
        on_event: impl Fn(Heard) + Send + 'static,
    ) -> Result<(), StoreError> {
        if self.dialect != Dialect::Postgres {
            return Ok(());
        }
        // Its own connection, straight to PostgreSQL (a transaction-mode pooler would lose it).
        let mut listener = sqlx::postgres::PgListener::connect(&self.listen_url).await?;
        listener.listen(channel).await?;
        let pool = self.write.clone();
        tokio::spawn(async move {
            let mut deaf = false;
            while !pool.is_closed() {
                let Ok(next) =
                    tokio::time::timeout(Duration::from_secs(1), listener.try_recv()).await
                else {
                    // Quiet. After a loss, a notification of our own proves the reconnected
                    // listener hears again (any node's would do too).
                    if deaf {
                        let _ = sqlx::query("SELECT pg_notify($1, 'listening')")
                            .bind(channel)
                            .execute(&pool)
                            .await;
                    }
                    continue;
                };
                match next {
                    Ok(Some(n)) => {
                        deaf = false;
                        on_event(Heard::Change {
                            lag_ms: changes::lag_ms(n.payload()),
                        });
                    }
                    // The connection was lost (the next call reconnects): changes may be missed
                    // until a notification comes through again.
                    Ok(None) => {
                        deaf = true;
                        on_event(Heard::Lost);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, channel, "listening for changes failed; retrying");
                        deaf = true;
                        on_event(Heard::Lost);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }

    /// The API keys with these secret digests (at most [`api_keys::MAX_BATCH`]), each found one
    /// with its digest: the hot path's batched cold read. SQLite files are read through a direct
    /// handle on the blocking pool; PostgreSQL (and in-memory SQLite) through sqlx.
    pub async fn keys_by_secret_hashes(
        &self,
        hashes: Vec<TokenHash>,
    ) -> Result<Vec<(TokenHash, api_keys::KeyRow)>, StoreError> {
        if let Some(direct) = &self.direct_keys {
            let direct = direct.clone();
            return tokio::task::spawn_blocking(move || direct.read(&hashes))
                .await
                .map_err(|e| StoreError::Corrupt(format!("key read task: {e}")))?;
        }
        let mut c = self.read().await?;
        api_keys::by_secret_hashes(&mut c, self.dialect, &hashes).await
    }

    /// Records keys' last uses in one transaction (the hot path's batched write). On SQLite
    /// files through a direct handle, holding this store's writer meanwhile.
    pub async fn touch_keys(&self, uses: Vec<api_keys::KeyUse>) -> Result<(), StoreError> {
        if let Some(direct) = &self.direct_keys {
            let writer = self.write.acquire().await?;
            let direct = direct.clone();
            let done = tokio::task::spawn_blocking(move || direct.touch(&uses))
                .await
                .map_err(|e| StoreError::Corrupt(format!("key use task: {e}")))?;
            drop(writer);
            return done;
        }
        let mut tx = self.begin().await?;
        api_keys::touch_all(&mut tx, &uses).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A consistent copy of a SQLite database in the new file `path` (`VACUUM INTO`: one read
    /// transaction, so writers go on meanwhile and the copy holds exactly what was committed
    /// when it began). None on PostgreSQL, which has its own tools.
    pub async fn backup_sqlite(&self, path: &str) -> Result<Option<()>, StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(None);
        }
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.read)
            .await?;
        Ok(Some(()))
    }

    /// Each pool's name, open connections and idle ones (the metrics' database pool use).
    pub fn pool_use(&self) -> [(&'static str, u32, usize); 2] {
        [
            ("read", self.read.size(), self.read.num_idle()),
            ("write", self.write.size(), self.write.num_idle()),
        ]
    }

    /// Cheap liveness query for /readyz, on the readiness check's own connection.
    pub async fn ping(&self) -> Result<(), StoreError> {
        use sqlx::Connection;
        let mut held = self.health.lock().await;
        if held.is_none() {
            *held = Some(sqlx::AnyConnection::connect(&self.url).await?);
        }
        let conn = held.as_mut().expect("just opened");
        if let Err(e) = sqlx::query("SELECT 1").execute(&mut *conn).await {
            *held = None;
            return Err(e.into());
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
        if let Some(c) = self.health.lock().await.take() {
            use sqlx::Connection;
            let _ = c.close().await;
        }
    }
}
