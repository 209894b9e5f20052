//! Migrations keep what is in the database: a database at an earlier version, with data in it,
//! migrated to the latest, on SQLite and PostgreSQL.

use sqlx::any::AnyPoolOptions;
use watchword_domain::scope::{Preset, ScopeSet};
use watchword_domain::{AccountId, Millis, PermissionSet, PersonId, Plan};
use watchword_store::api_keys;
use watchword_store::{Store, accounts};
use watchword_testkit::{drop_pg_database, fresh_pg_database};

/// Applies the migrations up to `version` only.
async fn migrate_to(url: &str, version: i64) {
    let mut m = sqlx::migrate!("../watchword-store/migrations");
    let earlier: Vec<_> = m
        .migrations
        .iter()
        .filter(|x| x.version <= version)
        .cloned()
        .collect();
    m.migrations = earlier.into();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    m.run(&pool).await.unwrap();
    pool.close().await;
}

/// Keys' last uses move from `api_keys` to `api_key_uses` (0007); keys never used get no row.
async fn last_uses_survive_their_move(url: &str) {
    let store = Store::connect(url, 2).await.unwrap();
    migrate_to(url, 6).await;
    let account = AccountId::new();
    let mut tx = store.begin().await.unwrap();
    accounts::insert(&mut tx, account, "Acme", Plan::Free, Millis(1))
        .await
        .unwrap();
    // Written as the schema of version 6 had it (the store's insert writes today's columns).
    let scopes = ScopeSet::preset(Preset::ReadOnly, PermissionSet::all()).encode();
    for (id, hash) in [("key_used", [1u8; 32]), ("key_unused", [2u8; 32])] {
        sqlx::query(
            "INSERT INTO api_keys (id, account_id, name, secret_hash, scopes, created_by, \
             created_by_email, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1)",
        )
        .bind(id)
        .bind(account.to_string())
        .bind(id)
        .bind(hash.to_vec())
        .bind(&scopes)
        .bind(PersonId::new().to_string())
        .bind("ada@example.com")
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query(
        "UPDATE api_keys SET last_used_at = 1234, last_used_ip = '10.1.2.3' WHERE id = 'key_used'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    store.migrate().await.unwrap();
    let mut c = store.read().await.unwrap();
    let used = api_keys::get(&mut c, account, "key_used")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.last_used_at, Some(Millis(1234)));
    assert_eq!(used.last_used_ip.as_deref(), Some("10.1.2.3"));
    let unused = api_keys::get(&mut c, account, "key_unused")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((unused.last_used_at, unused.last_used_ip), (None, None));
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_key_uses")
        .fetch_one(&mut *c)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    drop(c);
    store.close().await;
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    last_uses_survive_their_move(&url).await;
}

#[tokio::test]
async fn postgres() {
    let Some((url, name)) = fresh_pg_database().await else {
        return;
    };
    last_uses_survive_their_move(&url).await;
    drop_pg_database(name);
}
