use crate::StoreError;

/// The database behind the store. Query texts are shared; only connection setup and row locking
/// differ, and those differences are kept here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect of an open connection.
    pub fn of(c: &crate::Conn) -> Self {
        if c.backend_name() == "PostgreSQL" {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }

    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Dialect::Postgres)
        } else {
            Err(StoreError::Config(
                "database URL must start with sqlite: or postgres:// (e.g. postgres://user@127.0.0.1:5432/watchword)".into(),
            ))
        }
    }

    /// SQLite files are created on first start.
    pub(crate) fn connect_url(self, url: &str) -> String {
        match self {
            Dialect::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        }
    }

    pub(crate) fn session_setup(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &[
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA busy_timeout = 10000",
                "PRAGMA foreign_keys = ON",
                // Reads through a memory map instead of a read() per page, and a larger page
                // cache: cold reads of keys and sessions spread over the whole file.
                "PRAGMA mmap_size = 268435456",
                "PRAGMA cache_size = -32768",
            ],
            // No JIT compilation: watchword's queries are short, and a plan estimated costly
            // enough (the overview's aggregate over 10,000 members) spent 49 ms compiling to
            // run in under 20.
            Dialect::Postgres => &["SET jit = off"],
        }
    }

    /// How a write transaction starts, when not the default `BEGIN`.
    pub(crate) fn begin_statement(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => Some("BEGIN IMMEDIATE"),
            Dialect::Postgres => None,
        }
    }

    /// Row-locking suffix for a read-then-write in a transaction (SQLite's write transaction is
    /// already exclusive).
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Row-locking suffix for claiming work: PostgreSQL skips rows other nodes hold; SQLite has a
    /// single writer, so the claiming UPDATE is already exclusive.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}
