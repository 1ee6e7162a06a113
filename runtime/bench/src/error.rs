//! [`BenchError`]: why a bench run could not be set up or completed. Failed transactions during
//! the measured window are not errors: they are counted in the report.

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The options do not make sense together.
    #[error("invalid options: {0}")]
    Options(String),
    /// The in-process node could not start or stop.
    #[error("in-process node: {0}")]
    Node(#[from] hanok_node::Error),
    /// A client call failed during setup.
    #[error("client: {0}")]
    Client(#[from] hanok_client::ClientError),
    /// A gRPC call made directly on the generated clients failed during setup.
    #[error("node refused a setup call ({code:?}): {message}")]
    Status {
        /// The gRPC status code.
        code: tonic::Code,
        /// The node's message.
        message: String,
    },
    /// A setup step did not give what the workload needs (e.g. a setup transaction failed).
    #[error("setup: {0}")]
    Setup(String),
    /// The node's data dir (`--data-dir`) could not be read when the window started.
    #[error("data dir {}: {source}", path.display())]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading `/proc`, creating the temporary directory or writing the JSON failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The report could not be serialised.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A task or thread of the load generator panicked or could not start.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl From<tonic::Status> for BenchError {
    fn from(s: tonic::Status) -> Self {
        BenchError::Status {
            code: s.code(),
            message: s.message().to_string(),
        }
    }
}

impl From<tokio::task::JoinError> for BenchError {
    fn from(e: tokio::task::JoinError) -> Self {
        BenchError::Task(e.to_string())
    }
}
