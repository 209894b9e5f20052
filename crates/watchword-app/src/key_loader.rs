//! The database side of the API key hot path, batched: keys missing from the cache are read
//! together (concurrent misses share one `WHERE secret_hash IN (…)` query, and misses of the same
//! key share one row), and keys' last uses are written together (one transaction for every key
//! used since the last write, instead of one per key).

use crate::batch::Gather;
use std::collections::HashMap;
use tokio::sync::oneshot;
use watchword_domain::Millis;
use watchword_store::Store;
use watchword_store::api_keys::{self as store, KeyRow, MAX_BATCH};

/// Key reads in flight at once, per node.
const READ_SLOTS: usize = 4;

type Reply = Result<Option<KeyRow>, String>;

pub(crate) struct KeyLoader {
    reads: Gather<(Vec<u8>, oneshot::Sender<Reply>)>,
    /// Key id, when, from which IP.
    uses: Gather<(String, Millis, String)>,
}

impl KeyLoader {
    pub(crate) fn new() -> Self {
        Self {
            reads: Gather::new(READ_SLOTS),
            uses: Gather::new(1),
        }
    }

    /// Adds `hash` to the open read batch. Returns the answer's receiver, and true when this
    /// call opened the batch: the caller must then have [`KeyLoader::read`] run.
    pub(crate) fn enqueue_read(&self, hash: Vec<u8>) -> (oneshot::Receiver<Reply>, bool) {
        let (tx, rx) = oneshot::channel();
        let opened = self.reads.push((hash, tx));
        (rx, opened)
    }

    /// Reads the open batch of keys and answers each waiter.
    pub(crate) async fn read(&self, store: &Store) {
        let (_slot, batch) = self.reads.take().await;
        let mut waiting: HashMap<Vec<u8>, Vec<oneshot::Sender<Reply>>> = HashMap::new();
        for (hash, tx) in batch {
            waiting.entry(hash).or_default().push(tx);
        }
        let hashes: Vec<Vec<u8>> = waiting.keys().cloned().collect();
        for chunk in hashes.chunks(MAX_BATCH) {
            let mut found = store
                .keys_by_secret_hashes(chunk.to_vec())
                .await
                .map(|rows| rows.into_iter().collect::<HashMap<_, _>>());
            for hash in chunk {
                let answer = match &mut found {
                    Ok(rows) => Ok(rows.remove(hash)),
                    Err(e) => Err(e.to_string()),
                };
                // Clones only for extra waiters of the same key; the last takes the row.
                let mut txs = waiting.remove(hash).unwrap_or_default();
                let last = txs.pop();
                for tx in txs {
                    let _ = tx.send(answer.clone());
                }
                if let Some(tx) = last {
                    let _ = tx.send(answer);
                }
            }
        }
    }

    /// Queues a key's use for writing; true when the caller must have [`KeyLoader::write_uses`]
    /// run.
    pub(crate) fn enqueue_use(&self, id: String, at: Millis, ip: String) -> bool {
        self.uses.push((id, at, ip))
    }

    /// Writes every queued use in one transaction; a failure loses only these records.
    pub(crate) async fn write_uses(&self, store: &Store) {
        let (_slot, batch) = self.uses.take().await;
        let write = async {
            // One statement per IP and chunk of keys, at the latest use among them: last use is
            // kept to the minute, so the spread within one batch does not matter.
            let mut by_ip: HashMap<&str, (Millis, Vec<&str>)> = HashMap::new();
            for (id, at, ip) in &batch {
                let e = by_ip.entry(ip).or_insert((*at, Vec::new()));
                e.0 = e.0.max(*at);
                e.1.push(id);
            }
            let mut tx = store.begin().await?;
            for (ip, (at, ids)) in &by_ip {
                for chunk in ids.chunks(MAX_BATCH) {
                    store::touch(&mut tx, chunk, ip, *at).await?;
                }
            }
            tx.commit().await?;
            Ok::<_, watchword_store::StoreError>(())
        };
        if let Err(e) = write.await {
            tracing::warn!(error = %e, keys = batch.len(), "could not record API key use");
        }
    }
}
