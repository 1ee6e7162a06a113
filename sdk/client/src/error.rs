//! [`ClientError`]: everything a client call can fail with, in words an integrator can act on.

use hanok_proof::ProofError;

/// `Result` with [`ClientError`] by default.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Why a client call failed.
///
/// The node's own refusals arrive as [`ClientError::Status`] (its message says what to fix);
/// a transaction that was included but failed is [`ClientError::Contract`], [`ClientError::Vm`]
/// or [`ClientError::Rejected`], carrying the receipt's error text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The endpoint URL is invalid or the connection could not be made or was lost.
    #[error("transport: {0}")]
    Transport(String),
    /// The node answered with a gRPC error status.
    #[error("node refused the call ({code:?}): {message}")]
    Status {
        /// The gRPC status code.
        code: tonic::Code,
        /// The node's message.
        message: String,
    },
    /// The transaction was included but a contract refused it; its writes were reverted.
    #[error("contract error: {message}")]
    Contract {
        /// The contract's deterministic error string (see docs/contracts.md).
        message: String,
        /// Index of the failing call in the transaction, when known.
        failed_call: Option<u32>,
        /// The transaction hash (hex).
        tx_hash: String,
    },
    /// The transaction was included but the VM stopped it (out of gas, trap, a limit).
    #[error("vm error: {message}")]
    Vm {
        /// What the VM reported.
        message: String,
        /// The transaction hash (hex).
        tx_hash: String,
    },
    /// The transaction was included but refused by a stateful check (e.g. expired).
    #[error("transaction rejected: {message}")]
    Rejected {
        /// Why.
        message: String,
        /// The transaction hash (hex).
        tx_hash: String,
    },
    /// No receipt arrived in time. The transaction may still commit: ask for its receipt.
    #[error("no receipt for transaction {tx_hash} within the timeout; it may still commit, ask GetReceipt later")]
    Timeout {
        /// The transaction hash (hex).
        tx_hash: String,
    },
    /// A state proof does not check against the root it claims.
    #[error("proof invalid: {0}")]
    ProofInvalid(String),
    /// Bytes from the node (or a saved proof) do not decode as expected.
    #[error("decode: {0}")]
    Decode(String),
    /// An argument given to the client is unusable (a bad key, a malformed hex string...).
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl ClientError {
    /// The contract's error message, if a contract refused the transaction.
    pub fn contract_message(&self) -> Option<&str> {
        match self {
            ClientError::Contract { message, .. } => Some(message),
            _ => None,
        }
    }
}

impl From<tonic::Status> for ClientError {
    fn from(s: tonic::Status) -> Self {
        // A status made on this side of the wire from a broken connection carries the
        // transport error as its source (e.g. a TLS alert): that, not "transport error", is
        // what the user needs to read.
        if let Some(source) = std::error::Error::source(&s) {
            let mut msg = s.message().to_string();
            let mut src = Some(source);
            while let Some(e) = src {
                msg.push_str(": ");
                msg.push_str(&e.to_string());
                src = e.source();
            }
            if msg.contains("CertificateRequired") {
                msg.push_str(
                    " (the node requires a client certificate: pass --cert FILE and its key)",
                );
            } else if msg.contains("UnknownCA") || msg.contains("BadCertificate") {
                msg.push_str(" (the node does not accept this client certificate's CA)");
            }
            return ClientError::Transport(msg);
        }
        ClientError::Status {
            code: s.code(),
            message: s.message().to_string(),
        }
    }
}

impl From<tonic::transport::Error> for ClientError {
    fn from(e: tonic::transport::Error) -> Self {
        // The Display of a transport error is terse ("transport error"); its source says why.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        ClientError::Transport(msg)
    }
}

impl From<ProofError> for ClientError {
    fn from(e: ProofError) -> Self {
        ClientError::ProofInvalid(e.to_string())
    }
}

impl From<prost::DecodeError> for ClientError {
    fn from(e: prost::DecodeError) -> Self {
        ClientError::Decode(e.to_string())
    }
}
