//! The API key hot path on SQLite files — cold reads of keys by secret digest and the batched
//! last-use writes — through direct SQLite handles on the blocking pool. Through sqlx, each
//! statement is a round trip to the connection's own thread over channels (measured: about 40 %
//! of a cold read's time was the kernel switching threads); here a whole batch runs in one
//! blocking call, one prepared statement stepped per key. Same file, same tables, same columns;
//! PostgreSQL keeps the sqlx queries in `api_keys`.

use crate::api_keys::{GRANT_TOUCH_SQL, KEY_BY_HASH_SQL, KeyRow, KeyUse, TOUCH_SQL, is_grant};
use crate::{Dialect, StoreError};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::PathBuf;
use std::sync::Mutex;
use watchword_domain::api_key::KeyKind;
use watchword_domain::scope::ScopeSet;
use watchword_domain::token::TokenHash;
use watchword_domain::{AccountId, Millis, PersonId};

/// Idle reading connections kept for reuse (about the number of reads in flight).
const KEEP: usize = 8;

pub struct SqliteKeys {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    writer: Mutex<Option<Connection>>,
}

impl SqliteKeys {
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
            writer: Mutex::new(None),
        })
    }

    /// A connection with the pools' settings; readers are query-only.
    fn open(&self, reader: bool) -> Result<Connection, rusqlite::Error> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        for stmt in Dialect::Sqlite.session_setup() {
            c.execute_batch(stmt)?;
        }
        if reader {
            c.execute_batch("PRAGMA query_only = 1")?;
        }
        Ok(c)
    }

    /// Reads the keys with these digests, each found one with its digest (blocking: call from
    /// the blocking pool).
    pub fn read(&self, hashes: &[TokenHash]) -> Result<Vec<(TokenHash, KeyRow)>, StoreError> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match taken {
            Some(c) => c,
            None => self.open(true).map_err(db)?,
        };
        let rows = read_with(&conn, hashes);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEEP {
            idle.push(conn);
        }
        rows
    }

    /// Records these last uses in one transaction (blocking). The caller holds the store's
    /// writer, so no other write of this process waits on this one's lock.
    pub fn touch(&self, uses: &[KeyUse]) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if writer.is_none() {
            *writer = Some(self.open(false).map_err(db)?);
        }
        let c = writer.as_mut().expect("opened above");
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        {
            for u in uses {
                let sql = if is_grant(&u.id) {
                    GRANT_TOUCH_SQL
                } else {
                    TOUCH_SQL
                };
                tx.prepare_cached(sql)
                    .map_err(db)?
                    .execute(rusqlite::params![u.at.0, u.ip, u.id])
                    .map_err(db)?;
            }
        }
        tx.commit().map_err(db)
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(format!("sqlite key path: {e}"))
}

fn read_with(c: &Connection, hashes: &[TokenHash]) -> Result<Vec<(TokenHash, KeyRow)>, StoreError> {
    // One read transaction for the batch: outside one, every statement takes and drops WAL
    // read locks (system calls), which was half of a lookup's cost.
    let tx = c.unchecked_transaction().map_err(db)?;
    let mut out = Vec::with_capacity(hashes.len());
    {
        let mut stmt = tx.prepare_cached(KEY_BY_HASH_SQL).map_err(db)?;
        for hash in hashes {
            let mut rows = stmt.query([&hash[..]]).map_err(db)?;
            if let Some(r) = rows.next().map_err(db)? {
                out.push((*hash, key_row(r)?));
            }
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
    let str_at = |i: usize| r.get_ref(i).and_then(|v| Ok(v.as_str()?)).map_err(db);
    Ok(KeyRow {
        id: text(0)?,
        account_id: AccountId::parse(str_at(1)?).ok_or_else(|| bad("account_id"))?,
        name: text(2)?,
        scopes: ScopeSet::decode(str_at(3)?).map_err(|_| bad("scopes"))?,
        created_by: r
            .get_ref(4)
            .and_then(|v| Ok(v.as_str_or_null()?))
            .map_err(db)?
            .and_then(PersonId::parse),
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
        grant_id: opt_text(15)?,
        client_id: opt_text(16)?,
        kind: KeyKind::parse(str_at(17)?).ok_or_else(|| bad("kind"))?,
    })
}
