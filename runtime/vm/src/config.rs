//! Limits and the gas schedule: every bound a contract can hit, in one place.

/// Hard limits on code and execution. Defaults follow CosmWasm's proven upload limits, tightened
/// where we can.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Maximum size of an uploaded module in bytes.
    pub max_code_bytes: usize,
    /// Maximum pages (64 KiB) of linear memory, initial and at run time.
    pub max_memory_pages: u64,
    /// Maximum table elements, initial and at run time.
    pub max_table_elements: u64,
    /// Maximum functions, imported plus defined.
    pub max_functions: u32,
    /// Maximum globals.
    pub max_globals: u32,
    /// Maximum size of one function body in bytes.
    pub max_function_body_bytes: usize,
    /// Maximum locals declared by one function.
    pub max_locals: u64,
    /// Maximum nesting of blocks, loops and ifs in one function.
    pub max_nesting: u32,
    /// Maximum number of custom sections.
    pub max_custom_sections: u32,
    /// Maximum total bytes of custom sections.
    pub max_custom_bytes: usize,
    /// Maximum depth of nested contract calls (the outermost call is depth 1).
    pub max_call_depth: u32,
    /// Native stack available to wasm in one instance, in bytes.
    pub max_wasm_stack: usize,
    /// Maximum storage key length.
    pub max_key_bytes: usize,
    /// Maximum storage value length.
    pub max_value_bytes: usize,
    /// Maximum size of a message passed to a contract.
    pub max_message_bytes: usize,
    /// Maximum size of the data a contract returns.
    pub max_result_bytes: usize,
    /// Maximum size of one encoded event.
    pub max_event_bytes: usize,
    /// Maximum events emitted in one transaction.
    pub max_events: usize,
    /// Maximum pairs one `storage_range` returns.
    pub max_range_pairs: u32,
    /// Instances that may be live at once in the pooling allocator (threads × call depth).
    pub pool_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_code_bytes: 800 * 1024,
            max_memory_pages: 512,
            max_table_elements: 2_500,
            max_functions: 20_000,
            max_globals: 1_000,
            max_function_body_bytes: 128 * 1024,
            max_locals: 4_096,
            max_nesting: 256,
            max_custom_sections: 32,
            max_custom_bytes: 128 * 1024,
            max_call_depth: 6,
            max_wasm_stack: 128 * 1024,
            max_key_bytes: 512,
            max_value_bytes: 128 * 1024,
            max_message_bytes: 256 * 1024,
            max_result_bytes: 256 * 1024,
            max_event_bytes: 8 * 1024,
            max_events: 512,
            max_range_pairs: 256,
            pool_instances: 256,
        }
    }
}

/// What each host operation costs in gas (wasmtime fuel: one unit per wasm instruction).
///
/// Changing any number changes execution results, so it bumps [`GasSchedule::version`], which is
/// part of the compiled-module cache key and of the chain's genesis.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GasSchedule {
    /// Version of this schedule.
    pub version: u32,
    /// Creating a fresh instance for a call.
    pub instantiate: u64,
    /// Every host call.
    pub host_call: u64,
    /// Per byte copied between host and guest.
    pub per_byte: u64,
    /// A storage read (plus per byte of key and value).
    pub storage_read: u64,
    /// A storage write (plus `per_byte_written` per byte of key and value).
    pub storage_write: u64,
    /// Per byte written to storage.
    pub per_byte_written: u64,
    /// A storage removal.
    pub storage_remove: u64,
    /// A range scan (plus `per_range_pair` per pair returned).
    pub storage_range: u64,
    /// Per pair returned by a range scan.
    pub per_range_pair: u64,
    /// Emitting an event (plus `per_byte_written` per byte).
    pub event: u64,
    /// Calling or querying another contract (plus the callee's own gas).
    pub call: u64,
    /// sha256 (plus per byte).
    pub sha256: u64,
    /// One secp256k1 signature verification.
    pub secp256k1_verify: u64,
}

impl Default for GasSchedule {
    fn default() -> Self {
        GasSchedule {
            version: 1,
            instantiate: 10_000,
            host_call: 200,
            per_byte: 1,
            storage_read: 1_000,
            storage_write: 2_000,
            per_byte_written: 20,
            storage_remove: 1_000,
            storage_range: 1_000,
            per_range_pair: 200,
            event: 500,
            call: 10_000,
            sha256: 300,
            secp256k1_verify: 50_000,
        }
    }
}

/// Everything needed to build a [`crate::Vm`].
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// Limits on code and execution.
    pub limits: Limits,
    /// Gas costs of host operations.
    pub gas: GasSchedule,
    /// Directory of the compiled-module cache; `None` keeps compiled modules in memory only.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Budget of the in-memory compiled-module cache, in bytes of compiled code (plus a small
    /// fixed charge per module). Least recently used modules are evicted past it and reloaded
    /// from the disk cache when called again. Node-local: it changes no result.
    pub module_cache_bytes: usize,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            limits: Limits::default(),
            gas: GasSchedule::default(),
            cache_dir: None,
            // The six system contracts compile to about 2.3 MiB together; 64 MiB keeps dozens of
            // user contracts hot within the node's RSS budget (docs/PERFORMANCE.md).
            module_cache_bytes: 64 << 20,
        }
    }
}
