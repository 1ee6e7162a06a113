//! The signature-check pool: one thread per core, at a lower scheduling priority.
//!
//! Checking a signature is parallel work with no order; producing blocks is the serial path
//! every transaction waits on. On a machine with few cores, verification threads at normal
//! priority take CPU time from the block producer and the gRPC threads under load, which
//! lowers throughput and raises every transaction's latency. Niced, they use whatever CPU the
//! serial path leaves idle, and still all of it when the node is otherwise idle.

use std::sync::OnceLock;

/// How much lower than normal the checking threads run (Linux `nice`, 0..=19).
const NICE: i32 = 5;

/// Runs `f` on the pool.
pub(crate) fn spawn(f: impl FnOnce() + Send + 'static) {
    match pool() {
        Some(p) => p.spawn(f),
        None => rayon::spawn(f),
    }
}

fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("hanok-verify-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|e| tracing::warn!(error = %e, "no signature-check pool; using rayon's"))
            .ok()
    })
    .as_ref()
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: `gettid` has no preconditions; `setpriority` on our own thread id only changes
    // this thread's nice value (Linux applies PRIO_PROCESS to a single thread).
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        if let Ok(tid) = libc::id_t::try_from(tid) {
            libc::setpriority(libc::PRIO_PROCESS, tid, NICE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
