//! The API key hot path's one read — keys by secret digest — on SQLite, through a direct SQLite
//! handle on the blocking pool. Through sqlx, each statement is a round trip to the connection's
//! own thread over channels (measured: about 40 % of a cold read's time was the kernel switching
//! threads); here a whole batch runs in one blocking call. Same file, same table, same columns;
//! PostgreSQL keeps the sqlx query in `api_keys::by_secret_hashes`.

use crate::StoreError;
use crate::api_keys::{KEY_BY_HASH_SQL, KeyRow};
use std::path::PathBuf;
use std::sync::Mutex;
use watchword_domain::scope::ScopeSet;
use watchword_domain::{AccountId, Millis, PersonId};

/// Idle connections kept for reuse (about the number of reads in flight).
const KEEP: usize = 8;

pub struct SqliteKeyReads {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl SqliteKeyReads {
    /// For a `sqlite://FILE[?…]` URL; None for in-memory databases (each connection would see
    /// its own), which keep the sqlx path.
    pub(crate) fn for_url(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("sqlite://")
            .or(url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        // Only a plain path to a file the pools already opened (percent-encoded or in-memory
        // names keep the sqlx path rather than risk opening another file).
        if path.is_empty()
            || path.contains(":memory:")
            || path.contains('%')
            || url.contains("mode=memory")
            || !std::path::Path::new(path).is_file()
        {
            return None;
        }
        Some(Self {
            path: PathBuf::from(path),
            idle: Mutex::new(Vec::new()),
        })
    }

    fn open(&self) -> Result<rusqlite::Connection, rusqlite::Error> {
        use rusqlite::OpenFlags;
        let c = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Readers only; the same memory map and page cache as the sqlx readers.
        c.execute_batch(
            "PRAGMA query_only = 1; PRAGMA busy_timeout = 10000; \
             PRAGMA mmap_size = 268435456; PRAGMA cache_size = -32768;",
        )?;
        Ok(c)
    }

    /// Reads the keys with these digests (blocking: call from the blocking pool).
    pub fn read(&self, hashes: &[Vec<u8>]) -> Result<Vec<(Vec<u8>, KeyRow)>, StoreError> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match taken {
            Some(c) => c,
            None => self.open().map_err(db)?,
        };
        let rows = read_with(&conn, hashes);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEEP {
            idle.push(conn);
        }
        rows
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(format!("sqlite key read: {e}"))
}

fn read_with(
    c: &rusqlite::Connection,
    hashes: &[Vec<u8>],
) -> Result<Vec<(Vec<u8>, KeyRow)>, StoreError> {
    // One read transaction for the batch: outside one, every statement takes and drops WAL
    // read locks (system calls), which was half of a lookup's cost.
    let tx = c.unchecked_transaction().map_err(db)?;
    let mut out = Vec::with_capacity(hashes.len());
    {
        // One statement for the batch (padded to a power of two, so few texts are prepared).
        let n = hashes.len().next_power_of_two();
        let sql = format!(
            "{KEY_BY_HASH_SQL} IN ({})",
            (1..=n)
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut stmt = tx.prepare_cached(&sql).map_err(db)?;
        let params = (0..n).map(|i| &hashes[i.min(hashes.len() - 1)]);
        let mut rows = stmt.query(rusqlite::params_from_iter(params)).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            let hash: Vec<u8> = r.get(15).map_err(db)?;
            out.push((hash, key_row(r)?));
        }
    }
    tx.rollback().map_err(db)?;
    Ok(out)
}

/// A row of `COLUMNS`, in order.
fn key_row(r: &rusqlite::Row<'_>) -> Result<KeyRow, StoreError> {
    let bad = |c: &str| StoreError::Corrupt(format!("api_keys.{c}"));
    let text = |i: usize| r.get::<_, String>(i).map_err(db);
    let opt_text = |i: usize| r.get::<_, Option<String>>(i).map_err(db);
    let opt_int = |i: usize| r.get::<_, Option<i64>>(i).map_err(db);
    Ok(KeyRow {
        id: text(0)?,
        account_id: AccountId::parse(&text(1)?).ok_or_else(|| bad("account_id"))?,
        name: text(2)?,
        scopes: ScopeSet::decode(&text(3)?).map_err(|_| bad("scopes"))?,
        created_by: opt_text(4)?.as_deref().and_then(PersonId::parse),
        created_by_email: text(5)?,
        created_at: Millis(r.get(6).map_err(db)?),
        lifetime_secs: opt_int(7)?,
        expires_at: opt_int(8)?.map(Millis),
        replaced_by: opt_text(9)?,
        cloned_from: opt_text(10)?,
        last_used_at: opt_int(11)?.map(Millis),
        last_used_ip: opt_text(12)?,
        revoked_at: opt_int(13)?.map(Millis),
        revoked_reason: opt_text(14)?,
    })
}
