//! Why a transaction was refused, in words a client developer can act on.

use hanok_abi::Address;

/// `Result` with [`TxError`] by default.
pub type Result<T, E = TxError> = std::result::Result<T, E>;

/// Why a transaction is invalid. The first group is found by [`crate::CheckedTx::check`]
/// (stateless: the bytes alone); the last group needs chain state and is raised by the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// The encoded transaction is larger than the node accepts (and neither of the cases
    /// below, where there is more to say, applies).
    #[error("transaction is {size} bytes, above the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// Too large because of one uploaded module that does not fit in a transaction on its own.
    #[error("transaction is {size} bytes, above the limit of {limit} bytes, because it uploads a module of {module} bytes; a module cannot be split across transactions: make it smaller (build with opt-level \"z\", LTO and strip, and drop dependencies), within the VM's code limit")]
    TooLargeUpload {
        size: usize,
        limit: usize,
        module: usize,
    },
    /// Too large with several calls, each of which would fit on its own.
    #[error("transaction is {size} bytes, above the limit of {limit} bytes, with {calls} calls; split the calls into several transactions")]
    TooLargeCalls {
        size: usize,
        limit: usize,
        calls: usize,
    },
    /// The bytes are not a protobuf `hanok.v1.SignedTx`.
    #[error("transaction is not a valid hanok.v1.SignedTx protobuf: {0}")]
    Malformed(String),
    /// `SignedTx.body` is not a protobuf `hanok.v1.TxBody`.
    #[error("SignedTx.body is not a valid hanok.v1.TxBody protobuf: {0}")]
    MalformedBody(String),
    /// The body names another chain.
    #[error("transaction is for chain `{got}` but this is chain `{expected}`; set TxBody.chain_id to `{expected}`")]
    WrongChain { expected: String, got: String },
    /// `sender_pubkey` is not a 33-byte compressed secp256k1 point.
    #[error("TxBody.sender_pubkey must be a 33-byte compressed secp256k1 public key (0x02/0x03 prefix), got {len} bytes that do not decode")]
    BadPublicKey { len: usize },
    /// `sender` is not 20 bytes.
    #[error("TxBody.sender must be 20 bytes, got {len}")]
    BadSender { len: usize },
    /// `sender` is not the address of `sender_pubkey`.
    #[error("TxBody.sender {sender} is not the address of sender_pubkey ({derived}); the address is the first 20 bytes of sha256(compressed pubkey)")]
    SenderMismatch { sender: Address, derived: Address },
    /// The signature is not 64 bytes.
    #[error("signature must be 64 bytes (compact r||s), got {len}; DER and 65-byte recoverable signatures are not accepted")]
    SignatureLength { len: usize },
    /// The signature's `s` is in the upper half of the curve order.
    #[error("signature is high-S; normalise s to the lower half (low-S) before sending")]
    HighS,
    /// r or s is zero or not below the curve order.
    #[error("signature is not a valid secp256k1 (r, s) pair: r and s must be non-zero and below the curve order")]
    BadSignatureEncoding,
    /// The signature does not verify.
    #[error("signature does not verify: sign sha256 of the exact TxBody bytes you send in SignedTx.body with the key in sender_pubkey")]
    BadSignature,
    /// The gas limit is below what any transaction needs.
    #[error("gas_limit {gas_limit} is below the minimum of {min}")]
    GasTooLow { gas_limit: u64, min: u64 },
    /// The gas limit is above what one transaction may use.
    #[error("gas_limit {gas_limit} is above the per-transaction maximum of {max}")]
    GasTooHigh { gas_limit: u64, max: u64 },
    /// The body has no calls.
    #[error("transaction has no calls; add at least one Call")]
    NoCalls,
    /// The body has too many calls.
    #[error("transaction has {count} calls, above the limit of {limit}; split it")]
    TooManyCalls { count: usize, limit: usize },
    /// A call is malformed (no kind set, an address or hash of the wrong length).
    #[error("call {index} is malformed: {reason}")]
    BadCall { index: usize, reason: String },

    /// Stateful: the nonce is not the sender's next nonce.
    #[error("nonce {got} is not the sender's next nonce {expected}; query GetAccount for next_nonce and re-sign")]
    WrongNonce { expected: u64, got: u64 },
    /// Stateful: the block is past the transaction's expiry height.
    #[error("transaction expired at height {expiry_height}; the chain is at height {height}; re-sign with a later expiry_height")]
    Expired { expiry_height: u64, height: u64 },
    /// Stateful: the sender is not enrolled on chain.
    #[error("sender {sender} is not enrolled; ask the registry authority to enrol this account")]
    NotEnrolled { sender: Address },
    /// Stateful: the transaction uploads code or instantiates a contract, and its sender holds
    /// neither the `deployer` nor the `authority` role.
    #[error("sender {sender} may not upload code or instantiate contracts: that needs the `deployer` role, which the registry authority grants (identity `enrol` with roles including \"deployer\")")]
    NotDeployer { sender: Address },
}
