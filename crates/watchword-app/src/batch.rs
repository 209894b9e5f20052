//! Gathering concurrent work into batches without waiting on a timer: the first item of an empty
//! batch opens it, and the batch closes when one of a few slots frees up. A lone item goes at
//! once; under load, items pile up while the slots are busy and go together.

use std::sync::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};

pub(crate) struct Gather<T> {
    pending: Mutex<Vec<T>>,
    slots: Semaphore,
}

impl<T> Gather<T> {
    pub(crate) fn new(slots: usize) -> Self {
        Self {
            pending: Mutex::new(Vec::new()),
            slots: Semaphore::new(slots),
        }
    }

    /// Adds an item; true when it opened a batch, which the caller must then have
    /// [`Gather::take`]n (from a task of its own, so the batch is handled even if the caller
    /// goes away).
    pub(crate) fn push(&self, item: T) -> bool {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.push(item);
        pending.len() == 1
    }

    /// Waits for a free slot, then closes the open batch; the slot is held until the permit drops.
    pub(crate) async fn take(&self) -> (Option<SemaphorePermit<'_>>, Vec<T>) {
        let permit = self.slots.acquire().await.ok();
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        (permit, batch)
    }
}
