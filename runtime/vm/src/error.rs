//! The VM's error types: upload validation, execution faults, and the two-level call result.

use hanok_abi::Address;

/// `Result` with the VM's [`CallError`] by default.
pub type Result<T, E = CallError> = std::result::Result<T, E>;

/// Why an uploaded module was refused. Each variant names the limit it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The module is larger than the code size limit.
    #[error("code is {size} bytes, above the limit of {limit} bytes")]
    CodeTooLarge { size: usize, limit: usize },
    /// The bytes are a WebAssembly component (the component model), not a core module.
    #[error("this is a WebAssembly component, not a core wasm module: hanok runs core modules only; build the contract for wasm32-unknown-unknown (not a wasip2 or component target) and upload the .wasm it produces")]
    Component,
    /// The bytes are not a binary wasm module (WAT text is refused too).
    #[error("not a binary wasm module (expected the \\0asm header; WAT text is not accepted)")]
    NotWasm,
    /// An import outside the allow-list.
    #[error("import `{module}.{name}` is not allowed: contracts may import only the `hanok` host functions")]
    ImportNotAllowed { module: String, name: String },
    /// An allowed import declared with the wrong type.
    #[error("import `hanok.{name}` has the wrong signature")]
    ImportSignature { name: String },
    /// A start function runs code at instantiation, before any gas accounting a caller expects.
    #[error("a start function is not allowed")]
    StartFunction,
    /// Not exactly one memory.
    #[error("the module defines {count} memories; exactly one is required")]
    MemoryCount { count: u32 },
    /// Initial memory above the page limit.
    #[error("initial memory of {pages} pages is above the limit of {limit} pages")]
    MemoryTooLarge { pages: u64, limit: u64 },
    /// More than one table.
    #[error("the module defines {count} tables; at most one is allowed")]
    TableCount { count: u32 },
    /// Initial table above the element limit.
    #[error("table of {size} elements is above the limit of {limit}")]
    TableTooLarge { size: u64, limit: u64 },
    /// Too many functions (imported + defined).
    #[error("{count} functions are above the limit of {limit}")]
    TooManyFunctions { count: u32, limit: u32 },
    /// Too many globals.
    #[error("{count} globals are above the limit of {limit}")]
    TooManyGlobals { count: u32, limit: u32 },
    /// One function body is too large.
    #[error("function {index} has a body of {size} bytes, above the limit of {limit}")]
    FunctionTooLarge {
        index: u32,
        size: usize,
        limit: usize,
    },
    /// One function declares too many locals.
    #[error("function {index} declares {count} locals, above the limit of {limit}")]
    TooManyLocals { index: u32, count: u64, limit: u64 },
    /// Control flow nested too deep (a compile-time bomb).
    #[error("function {index} nests control flow {depth} deep, above the limit of {limit}")]
    NestingTooDeep { index: u32, depth: u32, limit: u32 },
    /// Too many or too large custom sections.
    #[error("custom sections: {count} sections / {bytes} bytes are above the limit of {limit_count} / {limit_bytes}")]
    CustomSections {
        count: u32,
        bytes: usize,
        limit_count: u32,
        limit_bytes: usize,
    },
    /// The module uses a wasm proposal we switch off.
    #[error("the wasm feature `{feature}` is disabled on hanok")]
    DisabledFeature { feature: &'static str },
    /// A required export is missing.
    #[error("missing export `{name}`")]
    MissingExport { name: &'static str },
    /// An entry point export has the wrong type.
    #[error("export `{name}` must be a function of type () -> i64")]
    ExportSignature { name: String },
    /// The module is malformed or fails wasm validation.
    #[error("invalid wasm: {0}")]
    Invalid(String),
    /// The compiler refused a module that passed validation.
    #[error("compilation failed: {0}")]
    Compile(String),
}

/// A VM-level failure of a call: not the contract's own decision. The transaction fails and is
/// charged its full gas limit. Messages are deterministic (no addresses of host memory, no
/// wasmtime backtraces).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The gas limit was used up.
    #[error("out of gas")]
    OutOfGas,
    /// The wasm stack limit was hit (e.g. unbounded recursion inside a contract).
    #[error("wasm stack exhausted (recursion too deep)")]
    StackOverflow,
    /// Nested contract calls went deeper than the limit.
    #[error("call depth limit of {limit} exceeded")]
    CallDepth { limit: u32 },
    /// A contract tried to call a contract already on the call stack.
    #[error("re-entrant call into {contract}, which is already on the call stack")]
    Reentry { contract: Address },
    /// A wasm trap (unreachable, division by zero, out of bounds access...). The text carries no
    /// prefix of its own; the message adds `wasm trap: ` once.
    #[error("wasm trap: {0}")]
    Trap(String),
    /// The contract panicked or called `abort`.
    #[error("contract aborted: {0}")]
    Aborted(String),
    /// The contract misused a host function (bad pointer, oversize key, write in a query...).
    #[error("host function misuse: {0}")]
    HostMisuse(String),
    /// No contract at this address.
    #[error("no contract at {0}")]
    NoSuchContract(Address),
    /// No uploaded code with this hash.
    #[error("no code with hash {0}")]
    NoSuchCode(String),
    /// The contract does not export the entry point.
    #[error("contract does not export `{0}`")]
    NoEntryPoint(&'static str),
    /// The contract returned bytes that are not an encoded result.
    #[error("contract returned a malformed result")]
    BadResult,
    /// An address is already taken by another contract.
    #[error("a contract already exists at {0}")]
    ContractExists(Address),
    /// Only the contract's admin may migrate it.
    #[error("only the admin of {0} may migrate it")]
    NotAdmin(Address),
    /// Upload refused.
    #[error("upload refused: {0}")]
    Invalid(#[from] ValidationError),
    /// The instance pool or another engine resource is exhausted; the call may be retried.
    #[error("VM resources exhausted: {0}")]
    Resources(String),
}

/// An I/O failure of the state backend. It is never a transaction outcome: block production
/// stops instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state storage failure: {0}")]
pub struct StorageError(pub String);

/// The result of a failed call, in the two levels of DESIGN.md.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The contract decided to fail: deterministic data. The tx is included, its writes reverted.
    #[error("contract {contract} returned an error: {message}")]
    Contract { contract: Address, message: String },
    /// The VM stopped the call: out of gas, trap, a limit.
    #[error(transparent)]
    Fault(#[from] Fault),
    /// The state backend failed; stop, do not record an outcome.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl CallError {
    /// The contract error message, if this is a contract-level error.
    pub fn contract_message(&self) -> Option<&str> {
        match self {
            CallError::Contract { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// A [`CallError`] on its way up through wasmtime: what a host function or the resource limiter
/// returns to stop the guest, and what the frame runner downcasts back.
#[derive(Debug)]
pub(crate) struct HostTrap(pub(crate) CallError);

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for HostTrap {}

/// Stops the guest with `e`.
pub(crate) fn trap(e: impl Into<CallError>) -> wasmtime::Error {
    wasmtime::Error::new(HostTrap(e.into()))
}

/// Failure to set up the VM (engine configuration, cache directory).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// wasmtime refused the configuration.
    #[error("engine configuration: {0}")]
    Engine(String),
    /// A worker thread (of a [`crate::Precompiler`]) could not be started.
    #[error("starting a compile worker thread: {0}")]
    Workers(#[source] std::io::Error),
    /// The compiled-module cache directory could not be created.
    #[error("module cache at {path}: {source}")]
    Cache {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}
