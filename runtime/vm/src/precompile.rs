//! [`Precompiler`]: a small pool of threads that validate and compile uploaded modules ahead of
//! execution, so that the block that runs an upload finds its module compiled.

use crate::error::SetupError;
use crate::vm::Vm;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A bounded pool that runs [`Vm::prepare`] off the caller's thread.
///
/// [`Precompiler::submit`] never blocks: when the queue is full the module is skipped, and the
/// block that executes the upload compiles it as it always could. So the pool only ever moves
/// work earlier; it decides nothing. A module already being compiled by a worker is not
/// compiled twice: [`Vm::prepare`] on another thread waits for the worker and finds it ready.
///
/// Dropping the pool closes the queue and joins the workers after they finish what is queued.
pub struct Precompiler {
    queue: Option<SyncSender<Vec<u8>>>,
    workers: Vec<JoinHandle<()>>,
    counts: Arc<Counts>,
}

impl std::fmt::Debug for Precompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Precompiler")
            .field("workers", &self.workers.len())
            .field("stats", &self.stats())
            .finish()
    }
}

#[derive(Default)]
struct Counts {
    submitted: AtomicU64,
    skipped: AtomicU64,
    compiled: AtomicU64,
    refused: AtomicU64,
}

/// What a [`Precompiler`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrecompileStats {
    /// Modules queued.
    pub submitted: u64,
    /// Modules not queued because the queue was full (or the pool closed).
    pub skipped: u64,
    /// Modules made ready (compiled, loaded from disk, or found in memory).
    pub compiled: u64,
    /// Modules that failed validation or compilation (their upload will fail in its block).
    pub refused: u64,
}

impl Precompiler {
    /// Starts `workers` threads (at least one) behind a queue of `queue` modules (at least one).
    ///
    /// # Errors
    /// [`SetupError::Workers`] when a worker thread cannot be spawned.
    pub fn new(vm: Vm, workers: usize, queue: usize) -> Result<Precompiler, SetupError> {
        let (tx, rx) = sync_channel::<Vec<u8>>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let counts = Arc::new(Counts::default());
        let handles = (0..workers.max(1))
            .map(|i| {
                let (vm, rx, counts) = (vm.clone(), rx.clone(), counts.clone());
                std::thread::Builder::new()
                    .name(format!("hanok-precompile-{i}"))
                    .spawn(move || work(&vm, &rx, &counts))
            })
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(SetupError::Workers)?;
        Ok(Precompiler {
            queue: Some(tx),
            workers: handles,
            counts,
        })
    }

    /// Queues `wasm` for validation and compilation; `false` when it was skipped because the
    /// queue is full. Never blocks.
    pub fn submit(&self, wasm: Vec<u8>) -> bool {
        let sent = match &self.queue {
            Some(q) => match q.try_send(wasm) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        let counter = if sent {
            &self.counts.submitted
        } else {
            &self.counts.skipped
        };
        counter.fetch_add(1, Ordering::Relaxed);
        sent
    }

    /// What the pool has done so far.
    pub fn stats(&self) -> PrecompileStats {
        let c = &self.counts;
        PrecompileStats {
            submitted: c.submitted.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            compiled: c.compiled.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Precompiler {
    fn drop(&mut self) {
        self.queue = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn work(vm: &Vm, rx: &Mutex<Receiver<Vec<u8>>>, counts: &Counts) {
    loop {
        // Hold the lock only to take one module, not while compiling it.
        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(wasm) = next else { return };
        let counter = match vm.prepare(&wasm) {
            Ok(_) => &counts.compiled,
            Err(_) => &counts.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
