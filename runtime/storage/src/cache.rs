//! A bounded cache of state values read from sled, in front of it: hot keys that blocks read
//! but rarely write (contract metadata, roles, accounts' records) are answered without sled,
//! whose process-wide lock the background writer holds while it applies a batch.
//!
//! Coherent by construction: a value is cached only after a sled read of a key no queued block
//! writes (so sled's value is the committed one and stays so while the reader holds the
//! store), and every commit replaces the cached value of each key it writes, under the store's
//! exclusive borrow, before any reader can see the new root.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

/// Bytes of keys and values the cache holds at most (plus per-entry overhead).
pub(crate) const READ_CACHE_BYTES: usize = 8 << 20;
/// What an entry costs beyond its key and value bytes (the map's slot and two allocations).
const ENTRY_OVERHEAD: usize = 64;

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
}

#[derive(Debug, Default)]
pub(crate) struct ReadCache {
    inner: Mutex<Inner>,
}

fn cost(key: &[u8], value: Option<&Vec<u8>>) -> usize {
    key.len() + value.map_or(0, Vec::len) + ENTRY_OVERHEAD
}

impl ReadCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached committed value of `key` (`Some(None)`: cached as absent).
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.lock().map.get(key).cloned()
    }

    /// Caches what sled answered for `key`. When the cache is full it is emptied: hot keys come
    /// back at their next read, and nothing needs an eviction order.
    pub(crate) fn fill(&self, key: &[u8], value: Option<&Vec<u8>>) {
        let c = cost(key, value);
        if c > READ_CACHE_BYTES / 64 {
            return;
        }
        let mut inner = self.lock();
        if inner.bytes + c > READ_CACHE_BYTES {
            inner.map.clear();
            inner.bytes = 0;
        }
        if let Some(old) = inner.map.insert(key.to_vec(), value.cloned()) {
            inner.bytes = inner.bytes.saturating_sub(cost(key, old.as_ref()));
        }
        inner.bytes += c;
    }

    /// A block's writes: every cached key it writes takes its new value.
    pub(crate) fn commit(&mut self, writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if inner.map.is_empty() {
            return;
        }
        for (key, value) in writes {
            if let Some(slot) = inner.map.get_mut(key) {
                let old = cost(key, slot.as_ref());
                *slot = value.clone();
                inner.bytes = inner.bytes.saturating_sub(old) + cost(key, value.as_ref());
            }
        }
    }
}
