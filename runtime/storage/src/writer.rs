//! The background state writer: sled written behind the block log, off the producer's path.
//!
//! A committed block's sled rows (state values, the root reference, its index entries,
//! `applied_height`) become a [`PendingBlock`] in an in-memory queue. One thread applies them to
//! sled in height order, one atomic batch per block, and drops each from the queue only after
//! sled has taken it. Until then the queue is an overlay: reads of the state store look there
//! first (newest block first), so a reader never sees sled's older value of a key a committed
//! block wrote. The block log, fsynced before a block is handed over, is the truth: a crash
//! loses only queued writes, and start-up replays them from the log (sled's `applied_height`
//! names the last block it holds).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};

/// Blocks that may wait for sled before the next commit waits for the writer: bounds the
/// overlay's memory (a block of 2,000 transfers queues a few MiB) and how far sled trails.
pub const MAX_PENDING_BLOCKS: usize = 8;

/// One committed block's sled rows, waiting to be written.
#[derive(Debug, Default)]
pub(crate) struct PendingBlock {
    pub(crate) height: u64,
    /// State writes by raw key (`None` deletes).
    pub(crate) values: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Index entries by their prefixed sled key.
    pub(crate) index: HashMap<Vec<u8>, Vec<u8>>,
    /// Rows written with every block: the root, the root reference, `applied_height`, format.
    pub(crate) meta: Vec<(&'static [u8], Vec<u8>)>,
}

impl PendingBlock {
    fn batch(&self, value_key: impl Fn(&[u8]) -> Vec<u8>) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for (k, v) in &self.values {
            match v {
                Some(v) => batch.insert(value_key(k), v.as_slice()),
                None => batch.remove(value_key(k)),
            }
        }
        for (k, v) in &self.index {
            batch.insert(k.as_slice(), v.as_slice());
        }
        for (k, v) in &self.meta {
            batch.insert(*k, v.as_slice());
        }
        batch
    }
}

#[derive(Default)]
struct Queue {
    blocks: VecDeque<Arc<PendingBlock>>,
    /// sled refused a batch: nothing more is written (sled's errors are sticky), and every
    /// later commit reports it until the store is reopened.
    failed: Option<String>,
    stop: bool,
    /// Writes held back (tests): the queue fills and reads answer from it.
    held: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a block is queued, written, or the writer stops or fails.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writer thread and its queue (see the module docs). Dropping it writes what is queued
/// and joins the thread.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("pending", &self.shared.lock().blocks.len())
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the thread writing to `tree`; `value_key` maps a state key to its sled key.
    pub(crate) fn start(tree: sled::Tree, value_key: fn(&[u8]) -> Vec<u8>) -> Result<Writer> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("hanok-state-writer".into())
            .spawn(move || run(&worker, &tree, value_key))
            .map_err(|e| Error::StateWrite(format!("could not start the writer thread: {e}")))?;
        Ok(Writer {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues a committed block, first waiting while [`MAX_PENDING_BLOCKS`] are queued.
    ///
    /// # Errors
    /// [`Error::StateWrite`] if an earlier block's write failed.
    pub(crate) fn submit(&self, block: PendingBlock) -> Result<()> {
        let mut q = self.shared.lock();
        while q.failed.is_none() && q.blocks.len() >= MAX_PENDING_BLOCKS {
            q = self
                .shared
                .changed
                .wait(q)
                .unwrap_or_else(|e| e.into_inner());
        }
        if let Some(why) = &q.failed {
            return Err(Error::StateWrite(why.clone()));
        }
        q.blocks.push_back(Arc::new(block));
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Waits until sled holds every queued block.
    ///
    /// # Errors
    /// [`Error::StateWrite`] if a write failed.
    pub(crate) fn drain(&self) -> Result<()> {
        self.progress().wait_written(u64::MAX)
    }

    /// A handle another thread can wait on (see [`Progress::wait_written`]).
    pub(crate) fn progress(&self) -> Progress {
        Progress(Arc::clone(&self.shared))
    }

    /// Holds back (or releases) the writes, for tests that need blocks to stay queued.
    pub(crate) fn hold(&self, held: bool) {
        self.shared.lock().held = held;
        self.shared.changed.notify_all();
    }

    /// A failed write, if any.
    pub(crate) fn failed(&self) -> Option<String> {
        self.shared.lock().failed.clone()
    }

    /// The newest queued write of `key`: `Some(None)` for a deletion, `None` if no queued block
    /// writes it (sled's value is current).
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.newest(|b| b.values.get(key))
    }

    /// The newest queued entry for an index key (prefixed).
    pub(crate) fn index_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.newest(|b| b.index.get(key))
    }

    /// What the newest queued block that has one answers with `find`.
    fn newest<T: Clone>(&self, find: impl Fn(&PendingBlock) -> Option<&T>) -> Option<T> {
        let q = self.shared.lock();
        q.blocks.iter().rev().find_map(|b| find(b)).cloned()
    }

    /// Queued writes with `start <= key < end`, newest winning, deletions as `None`.
    pub(crate) fn range(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        let mut out = BTreeMap::new();
        if end.is_some_and(|e| e <= start) {
            return out;
        }
        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
        let q = self.shared.lock();
        for b in &q.blocks {
            for (k, v) in b.values.range::<[u8], _>((Bound::Included(start), upper)) {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }
}

/// The writer's progress, for a thread that must know sled holds a block (a background
/// compaction).
pub(crate) struct Progress(Arc<Shared>);

impl Progress {
    /// Waits until sled holds block `height` (or every queued block, whichever comes first).
    ///
    /// # Errors
    /// [`Error::StateWrite`] if a write failed.
    pub(crate) fn wait_written(&self, height: u64) -> Result<()> {
        let mut q = self.0.lock();
        while q.failed.is_none()
            && !q.blocks.is_empty()
            && q.blocks.front().is_some_and(|b| b.height <= height)
        {
            q = self.0.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        match &q.failed {
            Some(why) => Err(Error::StateWrite(why.clone())),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer thread: applies queued blocks in order until stopped with an empty queue, or a
/// write fails.
fn run(shared: &Shared, tree: &sled::Tree, value_key: fn(&[u8]) -> Vec<u8>) {
    let stall = stall_for_tests();
    loop {
        let block = {
            let mut q = shared.lock();
            while (q.blocks.is_empty() || q.held) && !q.stop {
                q = shared.changed.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            match q.blocks.front() {
                Some(block) => Arc::clone(block),
                None => return,
            }
        };
        // Built outside the lock: readers look at the queue meanwhile.
        let batch = block.batch(value_key);
        if let Some(stall) = stall {
            std::thread::sleep(stall);
        }
        let written = tree.apply_batch(batch);
        let mut q = shared.lock();
        match written {
            Ok(()) => {
                q.blocks.pop_front();
            }
            Err(e) => q.failed = Some(format!("block {}: {e}", block.height)),
        }
        shared.changed.notify_all();
        if q.failed.is_some() {
            return;
        }
    }
}

/// Test hook: `HANOK_TEST_STATE_WRITE_STALL_MS` delays every background write, so a crash
/// test can kill the node while blocks wait for sled.
fn stall_for_tests() -> Option<Duration> {
    crate::env_u64("HANOK_TEST_STATE_WRITE_STALL_MS").map(Duration::from_millis)
}
