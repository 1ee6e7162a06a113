//! State backends of the chain: committed state in the store, and a block's pending writes over it.

use hanok_storage::StateStore;
use hanok_vm::state::{Overlay, Pairs};
use hanok_vm::{Backend, StorageError, WriteSet};
use std::sync::{Arc, RwLock};

/// The writes of a block's earlier transactions layered over the committed state: what the next
/// transaction of the block sees.
pub struct PendingBackend {
    base: Arc<dyn Backend>,
    pending: RwLock<Overlay>,
}

impl std::fmt::Debug for PendingBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingBackend").finish_non_exhaustive()
    }
}

impl PendingBackend {
    /// Nothing pending over `base`.
    pub fn new(base: Arc<dyn Backend>) -> PendingBackend {
        PendingBackend {
            base,
            pending: RwLock::new(Overlay::default()),
        }
    }

    /// Adds a finished transaction's writes.
    pub fn apply(&self, writes: WriteSet) {
        let mut p = self.pending.write().unwrap_or_else(|e| e.into_inner());
        for (k, v) in writes {
            p.put(k, v);
        }
    }

    /// Sets one key.
    pub fn put(&self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.pending
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .put(key, value);
    }

    /// Every pending write, in key order.
    pub fn writes(&self) -> WriteSet {
        self.pending
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .writes()
            .clone()
    }
}

impl Backend for PendingBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.pending
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(self.base.as_ref(), key)
    }

    fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Pairs, StorageError> {
        self.pending.read().unwrap_or_else(|e| e.into_inner()).scan(
            self.base.as_ref(),
            start,
            end,
            limit,
        )
    }
}

/// The committed state in the [`StateStore`], as the VM reads it.
#[derive(Debug, Clone)]
pub struct StoreBackend(pub(crate) Arc<RwLock<StateStore>>);

fn wrap(e: hanok_storage::Error) -> StorageError {
    StorageError(e.to_string())
}

impl Backend for StoreBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .map_err(wrap)
    }

    fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Pairs, StorageError> {
        let iter = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .range(start, end);
        iter.take(limit).collect::<Result<Pairs, _>>().map_err(wrap)
    }
}
