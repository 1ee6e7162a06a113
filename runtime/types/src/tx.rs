//! Transactions: [`CheckedTx`] can only be built by running every stateless check on raw bytes.

use crate::error::{Result, TxError};
use crate::keys::{PublicKey, SecretKey, SigError, SIGNATURE_LEN};
use crate::{Address, Hash};
use hanok_proto::v1;
use prost::Message;

/// Bounds on a transaction that need no state. Every node must use the same values: they decide
/// which blocks are valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxLimits {
    /// Largest encoded `SignedTx`, in bytes (an upload of the largest contract must fit).
    pub max_tx_bytes: usize,
    /// Smallest gas limit.
    pub min_gas: u64,
    /// Largest gas limit of one transaction.
    pub max_gas: u64,
    /// Most calls in one transaction.
    pub max_calls: usize,
}

impl Default for TxLimits {
    fn default() -> Self {
        TxLimits {
            // 800 KiB of code plus room for the envelope.
            max_tx_bytes: 900 * 1024,
            min_gas: 1_000,
            max_gas: 1_000_000_000,
            max_calls: 64,
        }
    }
}

/// One step of a transaction, with its addresses and hashes already length-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Run `execute` of `contract` with a JSON message.
    Execute { contract: Address, msg: Vec<u8> },
    /// Create a contract from uploaded code.
    Instantiate {
        code_hash: Hash,
        label: String,
        admin: Option<Address>,
        msg: Vec<u8>,
    },
    /// Store a wasm module as code.
    Upload { wasm: Vec<u8> },
}

impl Call {
    fn from_proto(index: usize, call: v1::Call) -> Result<Call> {
        use v1::call::Kind;
        let bad = |reason: &str| TxError::BadCall {
            index,
            reason: reason.to_string(),
        };
        match call.kind {
            None => Err(bad("no call kind set (execute, instantiate or upload)")),
            Some(Kind::Execute(e)) => Ok(Call::Execute {
                contract: Address::from_slice(&e.contract)
                    .ok_or_else(|| bad("execute.contract must be 20 bytes"))?,
                msg: e.msg,
            }),
            Some(Kind::Instantiate(i)) => Ok(Call::Instantiate {
                code_hash: Hash::from_slice(&i.code_hash)
                    .ok_or_else(|| bad("instantiate.code_hash must be 32 bytes"))?,
                admin: match i.admin {
                    None => None,
                    Some(a) => Some(
                        Address::from_slice(&a)
                            .ok_or_else(|| bad("instantiate.admin must be 20 bytes"))?,
                    ),
                },
                label: i.label,
                msg: i.msg,
            }),
            Some(Kind::Upload(u)) => Ok(Call::Upload { wasm: u.wasm }),
        }
    }
}

/// The size refusal for a transaction of `size` bytes over `limit`, with the advice that fits
/// what it carries: one module too large to upload at all, or calls to spread over several
/// transactions. Only reached on the refusal path, and only for bodies that decode.
fn too_large(body: Option<&[u8]>, size: usize, limit: usize) -> TxError {
    let Some(body) = body.and_then(|b| v1::TxBody::decode(b).ok()) else {
        return TxError::TooLarge { size, limit };
    };
    let largest_module = body
        .calls
        .iter()
        .filter_map(|c| match &c.kind {
            Some(v1::call::Kind::Upload(u)) => Some(u.wasm.len()),
            _ => None,
        })
        .max();
    let calls = body.calls.len();
    match largest_module {
        // Alone in the transaction, or too large even alone: splitting cannot help.
        Some(module) if calls == 1 || module >= limit => TxError::TooLargeUpload {
            size,
            limit,
            module,
        },
        _ if calls > 1 => TxError::TooLargeCalls { size, limit, calls },
        _ => TxError::TooLarge { size, limit },
    }
}

/// A transaction whose bytes passed every stateless check: size, encoding, chain id, sender and
/// key, low-S signature over sha256 of the body bytes, gas bounds and calls.
///
/// The only constructor is [`CheckedTx::check`], so holding one proves the checks ran (as
/// fuel-vm's `Checked<Tx>`). Nonce, expiry and enrolment need state; the chain checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTx {
    hash: Hash,
    body_bytes: Vec<u8>,
    signature: [u8; SIGNATURE_LEN],
    sender: Address,
    pubkey: PublicKey,
    chain_id: String,
    nonce: u64,
    expiry_height: u64,
    gas_limit: u64,
    calls: Vec<Call>,
    memo: String,
}

/// Checks an encoded `SignedTx` with the default [`TxLimits`] but `max_tx_bytes`.
///
/// # Errors
/// The first [`TxError`] found, in the order of [`CheckedTx::check`].
pub fn check(raw: &[u8], chain_id: &str, max_tx_bytes: usize) -> Result<CheckedTx> {
    let limits = TxLimits {
        max_tx_bytes,
        ..TxLimits::default()
    };
    CheckedTx::check(raw, chain_id, &limits)
}

impl CheckedTx {
    /// Runs every stateless check on an encoded `hanok.v1.SignedTx`, cheapest first: size,
    /// decoding, chain id, sender/key, signature, gas limit, calls.
    ///
    /// # Errors
    /// The first [`TxError`] found.
    pub fn check(raw: &[u8], chain_id: &str, limits: &TxLimits) -> Result<CheckedTx> {
        if raw.len() > limits.max_tx_bytes {
            // Decoded only to say why, and only when it is within a small multiple of the limit:
            // a huge blob is refused without being read.
            let body = (raw.len() / 4 <= limits.max_tx_bytes)
                .then(|| v1::SignedTx::decode(raw).ok().map(|s| s.body))
                .flatten();
            return Err(too_large(body.as_deref(), raw.len(), limits.max_tx_bytes));
        }
        let signed = v1::SignedTx::decode(raw).map_err(|e| TxError::Malformed(e.to_string()))?;
        Self::check_signed(signed, chain_id, limits)
    }

    /// As [`CheckedTx::check`], for a `SignedTx` already decoded (e.g. from a block). The size
    /// bound applies to its canonical encoding.
    ///
    /// # Errors
    /// The first [`TxError`] found.
    pub fn check_signed(
        signed: v1::SignedTx,
        chain_id: &str,
        limits: &TxLimits,
    ) -> Result<CheckedTx> {
        let size = signed.encoded_len();
        if size > limits.max_tx_bytes {
            return Err(too_large(Some(&signed.body), size, limits.max_tx_bytes));
        }
        let body = v1::TxBody::decode(signed.body.as_slice())
            .map_err(|e| TxError::MalformedBody(e.to_string()))?;
        if body.chain_id != chain_id {
            return Err(TxError::WrongChain {
                expected: chain_id.to_string(),
                got: body.chain_id,
            });
        }
        let pubkey =
            PublicKey::from_compressed(&body.sender_pubkey).ok_or(TxError::BadPublicKey {
                len: body.sender_pubkey.len(),
            })?;
        let sender = Address::from_slice(&body.sender).ok_or(TxError::BadSender {
            len: body.sender.len(),
        })?;
        let derived = pubkey.address();
        if sender != derived {
            return Err(TxError::SenderMismatch { sender, derived });
        }
        let signature =
            <[u8; SIGNATURE_LEN]>::try_from(signed.signature.as_slice()).map_err(|_| {
                TxError::SignatureLength {
                    len: signed.signature.len(),
                }
            })?;
        // The signature covers sha256 of the exact body bytes; the key comes from the body, never
        // from public-key recovery.
        pubkey
            .verify_prehash(&Hash::sha256(&signed.body), &signature)
            .map_err(|e| match e {
                SigError::Length(len) => TxError::SignatureLength { len },
                SigError::Encoding => TxError::BadSignatureEncoding,
                SigError::HighS => TxError::HighS,
                SigError::Mismatch => TxError::BadSignature,
            })?;
        if body.gas_limit < limits.min_gas {
            return Err(TxError::GasTooLow {
                gas_limit: body.gas_limit,
                min: limits.min_gas,
            });
        }
        if body.gas_limit > limits.max_gas {
            return Err(TxError::GasTooHigh {
                gas_limit: body.gas_limit,
                max: limits.max_gas,
            });
        }
        check_call_count(&body.calls, limits)?;
        let calls = body
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| Call::from_proto(i, c))
            .collect::<Result<Vec<_>>>()?;
        // `tx_hash(&signed.body, &signature)` without copying the body: `signed` holds exactly
        // these two fields (prost keeps no unknown fields), so its encoding is the same bytes.
        let hash = Hash::sha256(&signed.encode_to_vec());
        Ok(CheckedTx {
            hash,
            body_bytes: signed.body,
            signature,
            sender,
            pubkey,
            chain_id: body.chain_id,
            nonce: body.nonce,
            expiry_height: body.expiry_height,
            gas_limit: body.gas_limit,
            calls,
            memo: body.memo,
        })
    }

    /// The transaction hash: sha256 of the canonical `SignedTx` encoding.
    pub fn hash(&self) -> Hash {
        self.hash
    }
    /// The signer's address.
    pub fn sender(&self) -> Address {
        self.sender
    }
    /// The signer's public key.
    pub fn pubkey(&self) -> &PublicKey {
        &self.pubkey
    }
    /// The chain id it was signed for.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }
    /// The sender's nonce it claims.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }
    /// Last height it may be included at.
    pub fn expiry_height(&self) -> u64 {
        self.expiry_height
    }
    /// Gas for all of its calls.
    pub fn gas_limit(&self) -> u64 {
        self.gas_limit
    }
    /// Its calls, in order.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }
    /// The memo.
    pub fn memo(&self) -> &str {
        &self.memo
    }
    /// The exact body bytes that were signed.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_bytes
    }
    /// The 64-byte low-S signature.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }
    /// The `SignedTx` to put in a block.
    pub fn to_signed(&self) -> v1::SignedTx {
        v1::SignedTx {
            body: self.body_bytes.clone(),
            signature: self.signature.to_vec(),
        }
    }
    /// As [`CheckedTx::to_signed`], moving the body bytes instead of copying them.
    pub fn into_signed(self) -> v1::SignedTx {
        v1::SignedTx {
            body: self.body_bytes,
            signature: self.signature.to_vec(),
        }
    }
}

/// The body of a transaction sent for a dry run without a signature (`Simulate` with an empty
/// signature): the sender and calls decoded and length-checked as [`CheckedTx::check`] does, but
/// no signature, key or chain id is checked, because nothing of it will be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedBody {
    /// The account the calls run as.
    pub sender: Address,
    /// Gas for every call: the body's `gas_limit`, or `limits.max_gas` when it is 0 or above.
    pub gas_limit: u64,
    /// The calls, in order.
    pub calls: Vec<Call>,
}

impl UnsignedBody {
    /// Decodes `body` (an encoded `hanok.v1.TxBody`).
    ///
    /// # Errors
    /// [`TxError::MalformedBody`], [`TxError::BadSender`], [`TxError::NoCalls`],
    /// [`TxError::TooManyCalls`], [`TxError::BadCall`].
    pub fn decode(body: &[u8], limits: &TxLimits) -> Result<UnsignedBody> {
        let body = v1::TxBody::decode(body).map_err(|e| TxError::MalformedBody(e.to_string()))?;
        let sender = Address::from_slice(&body.sender).ok_or(TxError::BadSender {
            len: body.sender.len(),
        })?;
        check_call_count(&body.calls, limits)?;
        let gas_limit = match body.gas_limit {
            0 => limits.max_gas,
            g => g.min(limits.max_gas),
        };
        let calls = body
            .calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| Call::from_proto(i, c))
            .collect::<Result<Vec<_>>>()?;
        Ok(UnsignedBody {
            sender,
            gas_limit,
            calls,
        })
    }
}

/// sha256 of the canonical encoding of `SignedTx { body, signature }`.
pub fn tx_hash(body: &[u8], signature: &[u8]) -> Hash {
    let signed = v1::SignedTx {
        body: body.to_vec(),
        signature: signature.to_vec(),
    };
    Hash::sha256(&signed.encode_to_vec())
}

/// Encodes `body` and signs sha256 of those bytes: what a client (or test) sends.
pub fn sign_body(key: &SecretKey, body: &v1::TxBody) -> v1::SignedTx {
    let bytes = body.encode_to_vec();
    let signature = key.sign_prehash(&Hash::sha256(&bytes)).to_vec();
    v1::SignedTx {
        body: bytes,
        signature,
    }
}

/// A transaction holds at least one call and at most `limits.max_calls`.
fn check_call_count(calls: &[v1::Call], limits: &TxLimits) -> Result<()> {
    if calls.is_empty() {
        return Err(TxError::NoCalls);
    }
    if calls.len() > limits.max_calls {
        return Err(TxError::TooManyCalls {
            count: calls.len(),
            limit: limits.max_calls,
        });
    }
    Ok(())
}
