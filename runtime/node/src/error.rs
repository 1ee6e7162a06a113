//! The node's error type: what can stop a node from starting or serving.

/// `Result` with the node's [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the node could not start or keep serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The consortium's ordering could not start, or a peer runs another genesis.
    #[error("consortium: {0}")]
    Consortium(String),
    /// The configuration file could not be read or parsed.
    #[error("node config {path}: {reason}")]
    Config {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The ledger could not be opened: the chain, the genesis or key files, the VM, the
    /// bootstrap block.
    #[error(transparent)]
    Ledger(#[from] hanok_ledger::LedgerError),
    /// A TLS file cannot be read or is not what it should be.
    #[error("TLS file {path}: {reason}")]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The listen address could not be bound or the server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Binding or reading the socket failed.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The process's descriptor limit leaves too little room for client connections next to
    /// storage.
    #[error("{0}")]
    Limits(String),
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
}
