//! [`TxBuilder`] and [`SignedTx`]: build a transaction body, encode it once, sign those bytes.

use crate::error::{ClientError, Result};
use crate::signer::Signer;
use hanok_proto::v1;
use hanok_types::{Address, Hash};
use prost::Message;
use serde::Serialize;

/// Gas limit of a transaction when none is set: enough for a title settlement.
pub const DEFAULT_GAS_LIMIT: u64 = 50_000_000;

/// Builds a transaction: chain id, nonce, expiry height, gas limit, memo and calls.
///
/// The sender and its public key come from the [`Signer`] given to [`TxBuilder::sign`].
///
/// ```
/// use hanok_client::{Signer, TxBuilder};
/// use hanok_types::Address;
/// let alice = Signer::from_dev_seed("alice");
/// let contract = Address([7; 20]);
/// let tx = TxBuilder::new("hanok-dev-1")
///     .nonce(0)
///     .expiry_height(1_000)
///     .execute(contract, &serde_json::json!({"transfer": {"to": alice.address(), "amount": "5"}}))
///     .unwrap()
///     .sign(&alice)
///     .unwrap();
/// assert_eq!(tx.signature().len(), 64);
/// ```
#[derive(Debug, Clone)]
pub struct TxBuilder {
    chain_id: String,
    nonce: u64,
    expiry_height: u64,
    gas_limit: u64,
    memo: String,
    calls: Vec<v1::Call>,
}

impl TxBuilder {
    /// A transaction for `chain_id` with nonce 0, no expiry (`u64::MAX`), gas
    /// [`DEFAULT_GAS_LIMIT`] and no calls.
    pub fn new(chain_id: impl Into<String>) -> TxBuilder {
        TxBuilder {
            chain_id: chain_id.into(),
            nonce: 0,
            expiry_height: u64::MAX,
            gas_limit: DEFAULT_GAS_LIMIT,
            memo: String::new(),
            calls: Vec::new(),
        }
    }

    /// The sender's next nonce (`GetAccount.next_nonce`).
    #[must_use]
    pub fn nonce(mut self, nonce: u64) -> Self {
        self.nonce = nonce;
        self
    }

    /// The last block height at which the transaction may be included.
    #[must_use]
    pub fn expiry_height(mut self, height: u64) -> Self {
        self.expiry_height = height;
        self
    }

    /// Gas for all calls together; a failed transaction is charged all of it.
    #[must_use]
    pub fn gas_limit(mut self, gas: u64) -> Self {
        self.gas_limit = gas;
        self
    }

    /// Free text for the sender's bookkeeping. Keep personal data out: it is on the ledger.
    #[must_use]
    pub fn memo(mut self, memo: impl Into<String>) -> Self {
        self.memo = memo.into();
        self
    }

    /// Adds a call of `contract`'s `execute` with `msg` serialised as JSON.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] if `msg` does not serialise.
    pub fn execute<T: Serialize + ?Sized>(self, contract: Address, msg: &T) -> Result<Self> {
        Ok(self.execute_raw(contract, to_json(msg)?))
    }

    /// Adds a call of `contract`'s `execute` with JSON bytes as they are.
    #[must_use]
    pub fn execute_raw(mut self, contract: Address, msg: Vec<u8>) -> Self {
        self.calls.push(v1::Call {
            kind: Some(v1::call::Kind::Execute(v1::Execute {
                contract: contract.0.to_vec(),
                msg,
            })),
        });
        self
    }

    /// Adds the creation of a contract from uploaded code; its address derives from the sender
    /// and `label`.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] if `msg` does not serialise.
    pub fn instantiate<T: Serialize + ?Sized>(
        mut self,
        code_hash: Hash,
        label: impl Into<String>,
        admin: Option<Address>,
        msg: &T,
    ) -> Result<Self> {
        self.calls.push(v1::Call {
            kind: Some(v1::call::Kind::Instantiate(v1::Instantiate {
                code_hash: code_hash.0.to_vec(),
                label: label.into(),
                admin: admin.map(|a| a.0.to_vec()),
                msg: to_json(msg)?,
            })),
        });
        Ok(self)
    }

    /// Adds an upload of a binary wasm module; its code hash is `sha256(wasm)`.
    #[must_use]
    pub fn upload(mut self, wasm: Vec<u8>) -> Self {
        self.calls.push(v1::Call {
            kind: Some(v1::call::Kind::Upload(v1::Upload { wasm })),
        });
        self
    }

    /// The body `signer` would sign.
    pub fn body(&self, signer: &Signer) -> v1::TxBody {
        v1::TxBody {
            chain_id: self.chain_id.clone(),
            sender: signer.address().0.to_vec(),
            sender_pubkey: signer.public_key_bytes().to_vec(),
            nonce: self.nonce,
            expiry_height: self.expiry_height,
            gas_limit: self.gas_limit,
            calls: self.calls.clone(),
            memo: self.memo.clone(),
        }
    }

    /// An unsigned dry run as `sender`, for [`crate::Client::simulate`] and
    /// [`crate::Client::simulate_sequence`]: the body with `sender` and no public key, and an
    /// empty signature. A node runs it as `sender` without checking signature, nonce or
    /// enrolment, and never commits it (`Submit` refuses it).
    ///
    /// # Errors
    /// [`ClientError::Invalid`] if there are no calls.
    pub fn dry_run(&self, sender: Address) -> Result<SignedTx> {
        if self.calls.is_empty() {
            return Err(ClientError::Invalid(
                "a transaction needs at least one call".into(),
            ));
        }
        let body = v1::TxBody {
            chain_id: self.chain_id.clone(),
            sender: sender.0.to_vec(),
            sender_pubkey: Vec::new(),
            nonce: self.nonce,
            expiry_height: self.expiry_height,
            gas_limit: self.gas_limit,
            calls: self.calls.clone(),
            memo: self.memo.clone(),
        };
        Ok(SignedTx::from_proto(v1::SignedTx {
            body: body.encode_to_vec(),
            signature: Vec::new(),
        }))
    }

    /// Encodes the body once and signs sha256 of exactly those bytes.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] if there are no calls (every node refuses such a transaction).
    pub fn sign(&self, signer: &Signer) -> Result<SignedTx> {
        if self.calls.is_empty() {
            return Err(ClientError::Invalid(
                "a transaction needs at least one call".into(),
            ));
        }
        let body = self.body(signer).encode_to_vec();
        let signature = signer.sign(&body).to_vec();
        Ok(SignedTx::from_proto(v1::SignedTx { body, signature }))
    }
}

fn to_json<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(msg).map_err(|e| ClientError::Invalid(format!("message to JSON: {e}")))
}

/// A signed transaction: body bytes exactly as signed, the signature, and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    inner: v1::SignedTx,
    hash: Hash,
}

impl SignedTx {
    /// Wraps a protobuf `SignedTx` (e.g. built by hand or read from a file).
    pub fn from_proto(inner: v1::SignedTx) -> SignedTx {
        let hash = hanok_types::tx_hash(&inner.body, &inner.signature);
        SignedTx { inner, hash }
    }

    /// Decodes an encoded `hanok.v1.SignedTx`.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if the bytes are not one.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTx> {
        Ok(SignedTx::from_proto(v1::SignedTx::decode(bytes)?))
    }

    /// The protobuf encoding, as sent to a node.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.inner.encode_to_vec()
    }

    /// The transaction hash: sha256 of the `SignedTx` encoding, as receipts name it.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The body bytes exactly as signed.
    pub fn body_bytes(&self) -> &[u8] {
        &self.inner.body
    }

    /// The decoded body.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if the body bytes are not a `TxBody`.
    pub fn body(&self) -> Result<v1::TxBody> {
        Ok(v1::TxBody::decode(self.inner.body.as_slice())?)
    }

    /// The 64-byte signature.
    pub fn signature(&self) -> &[u8] {
        &self.inner.signature
    }

    /// The protobuf message.
    pub fn as_proto(&self) -> &v1::SignedTx {
        &self.inner
    }

    /// The protobuf message, by value.
    pub fn into_proto(self) -> v1::SignedTx {
        self.inner
    }
}
