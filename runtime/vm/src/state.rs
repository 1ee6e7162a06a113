//! The state a transaction reads and writes: a [`Backend`] of committed state under an
//! [`Overlay`] of pending writes with checkpoints. The key layout is `hanok_abi::layout`.

use crate::error::StorageError;
use std::collections::BTreeMap;
use std::sync::RwLock;

/// Pending writes: `Some(value)` to set, `None` to delete. Ordered, so applying it is
/// deterministic.
pub type WriteSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Key/value pairs in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// A key and what the overlay held for it before a write (`None`: nothing pending).
type JournalEntry = (Vec<u8>, Option<Option<Vec<u8>>>);

/// Committed state as the VM sees it. The node implements this over sled (plus the writes of
/// earlier transactions in the same block); tests use [`MemBackend`].
pub trait Backend: Send + Sync {
    /// The value at `key`.
    ///
    /// # Errors
    /// [`StorageError`] on I/O failure.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Up to `limit` pairs with `start <= key < end` (`end = None`: no upper bound), in key order.
    ///
    /// # Errors
    /// [`StorageError`] on I/O failure.
    fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Pairs, StorageError>;
}

/// An in-memory [`Backend`]; also handy for dry runs and tests.
#[derive(Debug, Default)]
pub struct MemBackend {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemBackend {
    /// An empty state.
    pub fn new() -> MemBackend {
        MemBackend::default()
    }

    /// Applies a write set.
    pub fn apply(&self, writes: &WriteSet) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for (k, v) in writes {
            match v {
                Some(v) => map.insert(k.clone(), v.clone()),
                None => map.remove(k),
            };
        }
    }

    /// A copy of every pair, in key order: a state dump for comparisons.
    pub fn dump(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Backend for MemBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }

    fn scan(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Pairs, StorageError> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .range(start.to_vec()..)
            .take_while(|(k, _)| end.is_none_or(|e| k.as_slice() < e))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// Pending writes over a backend, with a journal so a failed nested call can be undone.
#[derive(Debug, Default)]
pub struct Overlay {
    writes: WriteSet,
    /// (key, what the overlay held before) for every write since the first checkpoint.
    journal: Vec<JournalEntry>,
}

/// A position in the overlay's journal to revert to.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint(usize);

impl Overlay {
    /// Reads through the overlay to the backend.
    pub fn get(&self, backend: &dyn Backend, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => backend.get(key),
        }
    }

    /// Sets or deletes a key.
    pub fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        let before = self.writes.insert(key.clone(), value);
        self.journal.push((key, before));
    }

    /// Marks the current state.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint(self.journal.len())
    }

    /// Undoes every write since `cp`.
    pub fn revert(&mut self, cp: Checkpoint) {
        while self.journal.len() > cp.0 {
            let Some((key, before)) = self.journal.pop() else {
                break;
            };
            match before {
                Some(v) => self.writes.insert(key, v),
                None => self.writes.remove(&key),
            };
        }
    }

    /// Up to `limit` live pairs with `start <= key < end`, merging pending writes over the
    /// backend.
    pub fn scan(
        &self,
        backend: &dyn Backend,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StorageError> {
        let mut out: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut cursor = start.to_vec();
        // The backend is read in pages; deleted keys in the overlay may hide some of a page, so
        // keep paging until `limit` live pairs are found or the backend is exhausted.
        loop {
            let page = backend.scan(&cursor, end, limit)?;
            let exhausted = page.len() < limit;
            let last = page.last().map(|(k, _)| k.clone());
            for (k, v) in page {
                if !self.writes.contains_key(&k) {
                    out.insert(k, v);
                }
            }
            let upper = match (&last, exhausted) {
                (Some(last), false) => Some(last.as_slice()),
                _ => end,
            };
            for (k, v) in self.writes.range(cursor.clone()..) {
                if upper.is_some_and(|u| k.as_slice() > u) || end.is_some_and(|e| k.as_slice() >= e)
                {
                    break;
                }
                if let Some(v) = v {
                    out.insert(k.clone(), v.clone());
                }
            }
            if out.len() >= limit || exhausted {
                break;
            }
            match last {
                Some(mut last) => {
                    last.push(0);
                    cursor = last;
                }
                None => break,
            }
        }
        Ok(out.into_iter().take(limit).collect())
    }

    /// The pending writes.
    pub fn into_writes(self) -> WriteSet {
        self.writes
    }

    /// The pending writes, borrowed.
    pub fn writes(&self) -> &WriteSet {
        &self.writes
    }
}

/// The VM's names for the state keys it owns, kept for existing callers. The layout itself is
/// defined once, in [`hanok_abi::layout`] (see `docs/storage.md`); new code should call that.
pub mod keys {
    use hanok_abi::{layout, Address, Hash};

    pub use hanok_abi::layout::{
        prefix_end, storage_prefix, CODE, CONTRACT_INFO, CONTRACT_STORAGE,
    };

    /// The state key of `key` in `contract`'s storage ([`layout::storage_key`]).
    pub fn storage(contract: &Address, key: &[u8]) -> Vec<u8> {
        layout::storage_key(contract, key)
    }

    /// The state key of a contract's metadata ([`layout::contract_info_key`]).
    pub fn info(contract: &Address) -> Vec<u8> {
        layout::contract_info_key(contract)
    }

    /// The state key of a code blob ([`layout::code_key`]).
    pub fn code(hash: &[u8; 32]) -> Vec<u8> {
        layout::code_key(&Hash(*hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn scan_merges_overlay_over_backend_and_hides_deletes() -> Result<(), StorageError> {
        let backend = MemBackend::new();
        let mut base = WriteSet::new();
        for i in 0..10 {
            base.insert(format!("k{i}").into_bytes(), Some(b"old".to_vec()));
        }
        backend.apply(&base);
        let mut o = Overlay::default();
        for i in 0..5 {
            o.put(format!("k{i}").into_bytes(), None);
        }
        o.put(b"k5".to_vec(), Some(b"new".to_vec()));
        o.put(b"k55".to_vec(), Some(b"ins".to_vec()));
        let got = o.scan(&backend, b"k", None, 3)?;
        assert_eq!(
            got,
            vec![kv("k5", "new"), kv("k55", "ins"), kv("k6", "old")]
        );
        let got = o.scan(&backend, b"k", Some(b"k6"), 10)?;
        assert_eq!(got, vec![kv("k5", "new"), kv("k55", "ins")]);
        Ok(())
    }

    #[test]
    fn revert_restores_exactly_the_checkpointed_writes() {
        let mut o = Overlay::default();
        o.put(b"a".to_vec(), Some(b"1".to_vec()));
        let cp = o.checkpoint();
        o.put(b"a".to_vec(), Some(b"2".to_vec()));
        o.put(b"b".to_vec(), None);
        o.revert(cp);
        let w = o.into_writes();
        assert_eq!(w.len(), 1);
        assert_eq!(w.get(b"a".as_slice()), Some(&Some(b"1".to_vec())));
    }

    #[test]
    fn the_old_key_names_are_the_layout() {
        let a = hanok_abi::Address([5; 20]);
        let layout = hanok_abi::layout::storage_key(&a, b"k");
        assert_eq!(keys::storage(&a, b"k"), layout);
        assert_eq!(keys::code(&[9; 32]), [&[0x03][..], &[9; 32]].concat());
        assert_eq!(keys::info(&a), [&[0x02][..], &a.0].concat());
    }
}
