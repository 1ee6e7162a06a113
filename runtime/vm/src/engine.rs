//! The deterministic wasmtime engine, the compiled-module cache (memory and disk), and the data
//! every wasm store carries ([`HostCtx`]).
//!
//! The one type-level tie of the VM lives here, in one file: [`Inner`] holds modules
//! instantiated with [`HostCtx`] as their store data, and a [`HostCtx`] holds the [`Inner`] that
//! made it, because a host function running a nested call (`call`, `query`) must instantiate the
//! callee from the same engine and cache. Files only import downwards: `vm` → `session`/`host`
//! → `frame` → `engine` → `tx` → `contract` → `state`.

use crate::config::{GasSchedule, Limits, VmConfig};
use crate::contract::CodeHash;
use crate::error::{SetupError, ValidationError};
use crate::tx::TxState;
use crate::validate::validate;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use wasmparser::WasmFeatures;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module,
    PoolingAllocationConfig, ResourceLimiter,
};

/// The engine, the host functions (as a linker) and the compiled modules; shared by every
/// session and frame through an `Arc`.
pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostCtx>,
    pub(crate) limits: Limits,
    pub(crate) gas: GasSchedule,
    pub(crate) cache_dir: Option<PathBuf>,
    modules: RwLock<ModuleCache>,
    /// Code hashes being validated and compiled right now, so that a second thread asking for
    /// the same module (block execution, while an admission worker compiles it) waits for the
    /// first instead of compiling it again.
    compiling: Mutex<HashSet<CodeHash>>,
    compiled: Condvar,
}

/// The compiled modules in memory: bounded by the size of their compiled code, least recently
/// used evicted first. An evicted module is reloaded from the disk cache (a cheap mmap) or, if
/// that is gone too, compiled again from its code in state.
struct ModuleCache {
    map: HashMap<CodeHash, Cached>,
    /// Sum of `Cached::bytes`.
    bytes: usize,
    budget: usize,
    /// Logical clock for recency: bumped on every hit.
    clock: AtomicU64,
}

struct Cached {
    pre: Arc<InstancePre<HostCtx>>,
    /// Size of the compiled code image, plus a fixed overhead for the module's metadata.
    bytes: usize,
    last_used: AtomicU64,
}

/// What one cached module is charged beyond its code image (type and function tables,
/// the `InstancePre`): a guess, so that a flood of tiny modules is bounded too.
const MODULE_OVERHEAD_BYTES: usize = 16 * 1024;

impl ModuleCache {
    fn new(budget: usize) -> ModuleCache {
        ModuleCache {
            map: HashMap::new(),
            bytes: 0,
            budget,
            clock: AtomicU64::new(0),
        }
    }

    fn get(&self, hash: &CodeHash) -> Option<Arc<InstancePre<HostCtx>>> {
        let c = self.map.get(hash)?;
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        c.last_used.store(now, Ordering::Relaxed);
        Some(c.pre.clone())
    }

    /// Inserts `pre`, then evicts the least recently used other modules while over budget.
    /// The module just inserted always stays, even when it alone is over budget.
    fn insert(&mut self, hash: CodeHash, pre: Arc<InstancePre<HostCtx>>) {
        let range = pre.module().image_range();
        let image = (range.end as usize).saturating_sub(range.start as usize);
        let bytes = image.saturating_add(MODULE_OVERHEAD_BYTES);
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let cached = Cached {
            pre,
            bytes,
            last_used: AtomicU64::new(now),
        };
        if let Some(old) = self.map.insert(hash, cached) {
            self.bytes = self.bytes.saturating_sub(old.bytes);
        }
        self.bytes = self.bytes.saturating_add(bytes);
        while self.bytes > self.budget {
            let victim = self
                .map
                .iter()
                .filter(|(h, _)| **h != hash)
                .min_by_key(|(_, c)| c.last_used.load(Ordering::Relaxed))
                .map(|(h, _)| *h);
            let Some(victim) = victim else { break };
            if let Some(c) = self.map.remove(&victim) {
                self.bytes = self.bytes.saturating_sub(c.bytes);
            }
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }
}

/// Marks a code hash as being compiled; dropping it wakes the threads waiting for that hash.
struct Claim<'a> {
    inner: &'a Inner,
    hash: CodeHash,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(&self.inner.compiling).remove(&self.hash);
        self.inner.compiled.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The data of one call frame's store: who runs, for whom, on which transaction.
pub(crate) struct HostCtx {
    /// The engine and cache a nested call instantiates its callee from.
    pub(crate) inner: Arc<Inner>,
    pub(crate) tx: Rc<RefCell<TxState>>,
    pub(crate) contract: hanok_abi::Address,
    pub(crate) sender: hanok_abi::Address,
    pub(crate) depth: u32,
    pub(crate) read_only: bool,
    pub(crate) input: Vec<u8>,
    /// The bytes the last host function produced, for `register_read`.
    pub(crate) register: Vec<u8>,
    pub(crate) memory: Option<Memory>,
    pub(crate) limiter: Limiter,
}

/// Caps memory and table growth at run time. Growing past a cap is refused the way wasm
/// specifies a failed grow: `memory.grow` / `table.grow` return −1 and the contract goes on (its
/// allocator reports out of memory, or it copes), instead of the whole call trapping.
pub(crate) struct Limiter {
    pub(crate) max_memory_bytes: usize,
    pub(crate) max_table_elements: usize,
}

impl Limiter {
    /// The caps of `limits`.
    pub(crate) fn new(limits: &Limits) -> Limiter {
        Limiter {
            max_memory_bytes: usize::try_from(limits.max_memory_pages.saturating_mul(65_536))
                .unwrap_or(usize::MAX),
            max_table_elements: usize::try_from(limits.max_table_elements).unwrap_or(usize::MAX),
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // `Ok(false)` is a failed grow: the instruction answers −1, nothing traps.
        Ok(desired <= self.max_memory_bytes)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }
}

/// Where a module came from when it was made ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// Already in memory.
    Memory,
    /// Deserialised from the on-disk cache.
    DiskCache,
    /// Validated and compiled now.
    Compiled,
}

fn engine_config(limits: &Limits) -> Config {
    let mut c = Config::new();
    // Gas is wasmtime fuel; NaNs are canonicalised so float results are bit-identical on every
    // CPU; every proposal we do not need is switched off explicitly, because wasmtime enables
    // several by default and a new default must never change what a contract can do.
    c.consume_fuel(true)
        .cranelift_nan_canonicalization(true)
        .wasm_features(WasmFeatures::THREADS, false)
        .wasm_features(WasmFeatures::SHARED_EVERYTHING_THREADS, false)
        .wasm_features(WasmFeatures::STACK_SWITCHING, false)
        .wasm_features(WasmFeatures::LEGACY_EXCEPTIONS, false)
        .wasm_features(WasmFeatures::COMPONENT_MODEL, false)
        .wasm_relaxed_simd(false)
        .wasm_simd(false)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_features(WasmFeatures::GC, false)
        .wasm_features(WasmFeatures::FUNCTION_REFERENCES, false)
        .wasm_tail_call(false)
        .wasm_features(WasmFeatures::EXCEPTIONS, false)
        .wasm_extended_const(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .wasm_bulk_memory(true)
        .wasm_multi_value(true)
        .wasm_features(WasmFeatures::REFERENCE_TYPES, true)
        .max_wasm_stack(limits.max_wasm_stack)
        // Backtraces would put host-dependent detail into error messages and cost time.
        .wasm_backtrace_max_frames(None)
        .parallel_compilation(true)
        // A fresh instance copies its data segments into memory instead of mapping the
        // module's image copy-on-write. With the image mapped, the first write to each of its
        // pages in every call is a copy-on-write fault that replaces a present mapping, and so
        // flushes the TLB of every core the process runs on (an IPI each): about a tenth of the
        // CPU of a query at 32 in flight. Copying a contract's few KiB of data costs less, and
        // the pages it writes are fresh (no present mapping, no flush). Memory contents are the
        // same either way. Measured: docs/PERFORMANCE.md, "Contract memory: data segments
        // copied".
        .memory_init_cow(false);
    let mut pool = PoolingAllocationConfig::new();
    let max_memory_bytes =
        usize::try_from(limits.max_memory_pages.saturating_mul(65_536)).unwrap_or(usize::MAX);
    let max_table_elements = usize::try_from(limits.max_table_elements).unwrap_or(usize::MAX);
    pool.total_core_instances(limits.pool_instances)
        .total_memories(limits.pool_instances)
        .total_tables(limits.pool_instances)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .max_memory_size(max_memory_bytes)
        .table_elements(max_table_elements)
        // Every call runs on a fresh instance, and a freed slot must read as new before reuse.
        // A table (a funcref is one pointer) is zeroed with memset instead of an madvise: no
        // syscall or TLB shootdown per call, and at most the largest table stays resident per
        // slot (20 KB with the default limits, 5 MiB over the whole pool).
        .table_keep_resident(max_table_elements.saturating_mul(std::mem::size_of::<usize>()))
        // Linear memory is still reset with madvise(DONTNEED), which drops the instance's
        // private pages so the slot reads as its initial image and zeros again, but batched: 8
        // regions (a memory and a table per instance) per process_madvise call, so one syscall
        // (and, on recent kernels, one TLB shootdown) per 4 instances instead of one each. A
        // freed slot is reused only after its batch is flushed, and wasmtime flushes early
        // rather than fail an allocation. Pending decommits are bounded: under 8 regions per
        // queue shard, one shard per CPU (up to 16), so on 2 cores at most 8 memories: a few
        // dirty pages each for the system contracts, `max_memory_size` each at worst.
        //
        // Not used: `linear_memory_keep_resident` memsets a memory from address 0 up, where
        // Rust contracts keep their 1 MiB stack, so it would clear ~1.1 MiB per call to save
        // one madvise; `pagemap_scan` (reset only the dirty pages) leaves a dirty page that was
        // swapped out unreset (wasmtime PR #14357), and a stale page would break determinism.
        .decommit_batch_size(8);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}

/// A wasmtime engine configured for determinism and the pooling allocator.
///
/// # Errors
/// [`SetupError::Engine`] when wasmtime refuses the configuration.
pub(crate) fn new_engine(limits: &Limits) -> Result<Engine, SetupError> {
    Engine::new(&engine_config(limits)).map_err(|e| SetupError::Engine(e.to_string()))
}

impl Inner {
    /// The engine with `linker`'s host functions, and the compiled-module cache of `config`.
    ///
    /// # Errors
    /// [`SetupError::Cache`] when the cache directory cannot be created.
    pub(crate) fn new(
        engine: Engine,
        linker: Linker<HostCtx>,
        config: VmConfig,
    ) -> Result<Inner, SetupError> {
        let cache_dir = match config.cache_dir {
            Some(dir) => {
                // The cache key covers the engine build and settings and the gas schedule: an
                // artifact compiled under other rules is never loaded.
                let mut h = std::hash::DefaultHasher::new();
                engine.precompile_compatibility_hash().hash(&mut h);
                config.gas.hash(&mut h);
                let dir = dir.join(format!("{:016x}", h.finish()));
                std::fs::create_dir_all(&dir).map_err(|source| SetupError::Cache {
                    path: dir.clone(),
                    source,
                })?;
                Some(dir)
            }
            None => None,
        };
        Ok(Inner {
            engine,
            linker,
            limits: config.limits,
            gas: config.gas,
            cache_dir,
            modules: RwLock::new(ModuleCache::new(config.module_cache_bytes)),
            compiling: Mutex::new(HashSet::new()),
            compiled: Condvar::new(),
        })
    }

    /// Validates `wasm`, compiles it once and caches the result in memory and on disk.
    pub(crate) fn prepare(&self, wasm: &[u8]) -> Result<(CodeHash, Loaded), ValidationError> {
        self.prepare_pre(wasm).map(|(hash, how, _)| (hash, how))
    }

    /// As [`Inner::prepare`], also handing back the compiled module (which a small cache may
    /// already have evicted again by the time the caller looks it up).
    pub(crate) fn prepare_pre(
        &self,
        wasm: &[u8],
    ) -> Result<(CodeHash, Loaded, Arc<InstancePre<HostCtx>>), ValidationError> {
        let hash = CodeHash::of(wasm);
        if let Some(pre) = self.cached(&hash) {
            return Ok((hash, Loaded::Memory, pre));
        }
        // One thread compiles a given module; the others wait and then find it in memory.
        let _claim = self.claim(hash);
        if let Some(pre) = self.cached(&hash) {
            return Ok((hash, Loaded::Memory, pre));
        }
        validate(wasm, &self.limits)?;
        if let Some(pre) = self.load_from_disk(&hash) {
            self.insert(hash, pre.clone());
            return Ok((hash, Loaded::DiskCache, pre));
        }
        let module = Module::from_binary(&self.engine, wasm)
            .map_err(|e| ValidationError::Compile(format!("{e:#}")))?;
        if let Some(path) = self.cache_path(&hash) {
            // A failed cache write only costs a recompile after restart; it must not fail the
            // upload.
            if let Ok(bytes) = module.serialize() {
                let tmp = path.with_extension("tmp");
                if std::fs::write(&tmp, &bytes).is_ok() {
                    let _ = std::fs::rename(&tmp, &path);
                }
            }
        }
        let pre = Arc::new(
            self.linker
                .instantiate_pre(&module)
                .map_err(|e| ValidationError::Compile(format!("{e:#}")))?,
        );
        self.insert(hash, pre.clone());
        Ok((hash, Loaded::Compiled, pre))
    }

    /// Waits until no other thread is compiling `hash`, then claims it.
    fn claim(&self, hash: CodeHash) -> Claim<'_> {
        let mut compiling = lock(&self.compiling);
        while compiling.contains(&hash) {
            compiling = self
                .compiled
                .wait(compiling)
                .unwrap_or_else(|e| e.into_inner());
        }
        compiling.insert(hash);
        Claim { inner: self, hash }
    }

    /// Whether the module is compiled and in memory.
    pub(crate) fn is_loaded(&self, hash: &CodeHash) -> bool {
        self.modules
            .read()
            .map(|m| m.map.contains_key(hash))
            .unwrap_or(false)
    }

    /// Modules in memory and the bytes they are charged.
    pub(crate) fn memory_cache_usage(&self) -> (usize, usize) {
        self.modules
            .read()
            .map(|m| (m.map.len(), m.bytes))
            .unwrap_or((0, 0))
    }

    /// Drops every module from memory (the disk cache stays).
    pub(crate) fn clear_memory_cache(&self) {
        if let Ok(mut m) = self.modules.write() {
            m.clear();
        }
    }

    pub(crate) fn cached(&self, hash: &CodeHash) -> Option<Arc<InstancePre<HostCtx>>> {
        self.modules.read().ok()?.get(hash)
    }

    /// The module for `hash`: from memory, else from the disk cache. `None` means it must be
    /// prepared from its wasm bytes.
    pub(crate) fn module(&self, hash: &CodeHash) -> Option<Arc<InstancePre<HostCtx>>> {
        if let Some(pre) = self.cached(hash) {
            return Some(pre);
        }
        let pre = self.load_from_disk(hash)?;
        self.insert(*hash, pre.clone());
        Some(pre)
    }

    fn insert(&self, hash: CodeHash, pre: Arc<InstancePre<HostCtx>>) {
        if let Ok(mut m) = self.modules.write() {
            m.insert(hash, pre);
        }
    }

    fn cache_path(&self, hash: &CodeHash) -> Option<PathBuf> {
        self.cache_dir
            .as_deref()
            .map(|d: &Path| d.join(format!("{}.cwasm", hash.to_hex())))
    }

    fn load_from_disk(&self, hash: &CodeHash) -> Option<Arc<InstancePre<HostCtx>>> {
        let path = self.cache_path(hash)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `Module::serialize` of an engine with the same
        // compatibility hash (it is part of the directory name), in a directory only this node
        // writes; wasmtime also checks the artifact's header against the engine before use.
        let module = unsafe { Module::deserialize_file(&self.engine, &path) }.ok()?;
        let pre = self.linker.instantiate_pre(&module).ok()?;
        Some(Arc::new(pre))
    }
}
