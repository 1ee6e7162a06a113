//! The node's error type: what can stop a node from starting or serving.

/// `Result` with the node's [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the node could not start or keep serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file could not be read or parsed.
    #[error("node config {path}: {reason}")]
    Config {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A genesis file is unreadable, malformed or inconsistent.
    #[error("genesis file {path}: `{field}`: {reason}")]
    Genesis {
        /// The file.
        path: std::path::PathBuf,
        /// The field that is wrong, e.g. `contracts[1].code` (`(root)` / `(file)` for the
        /// whole document).
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// The proposer key file is unreadable, malformed or too widely readable.
    #[error("proposer key {path}: {reason}")]
    Key {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong (never the key itself).
        reason: String,
    },
    /// The VM could not be set up.
    #[error("VM setup: {0}")]
    Vm(#[from] hanok_vm::SetupError),
    /// The chain could not be opened or a block could not be committed.
    #[error(transparent)]
    Chain(#[from] hanok_chain::ChainError),
    /// The bootstrap block (genesis enrolments) did not apply cleanly.
    #[error("bootstrap block: {0}")]
    Bootstrap(String),
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
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
}
