//! `hanok-types`: the nouns every part of the node agrees on — [`Hash`](struct@Hash) (sha256, defined in
//! `hanok-abi` and re-exported with the state [`layout`]), account
//! [`Address`]es derived from secp256k1 keys ([`PublicKey`], [`SecretKey`]), their `did:key`
//! rendering ([`did`]), and transactions that carry proof of their checks ([`CheckedTx`]).
//!
//! An account is a secp256k1 key; its address is the first 20 bytes of sha256 of the 33-byte
//! compressed key; people see it as a `did:key`. A transaction is `SignedTx { body, signature }`
//! where the signature is a 64-byte compact low-S ECDSA signature over sha256 of the exact body
//! bytes (see `docs/transactions.md`).
//!
//! Architecture Invariant: a [`CheckedTx`] exists only if [`CheckedTx::check`] ran on it, so the
//! executor cannot be handed an unverified transaction. Checks here are stateless; nonce, expiry
//! and enrolment need chain state and belong to `hanok-chain` (with [`TxError`] variants here).
//!
//! Architecture Invariant: signatures are verified against the key in the body with
//! `verify_prehash`; public-key recovery is never used. High-S signatures are refused.
//!
//! Architecture Invariant: this crate knows nothing of wasm, sled, gRPC services or real estate.
#![deny(clippy::arithmetic_side_effects)]

pub mod did;
mod error;
mod keys;
mod tx;

pub use did::{parse_did_key, to_did_key, DidError};
pub use error::{Result, TxError};
pub use hanok_abi::{layout, Address, Hash};
pub use keys::{
    address_of, attestation_digest, chain_genesis_hash, dev_seed, PublicKey, SecretKey, SigError,
    PUBKEY_LEN, SIGNATURE_LEN,
};
pub use tx::{check, sign_body, tx_hash, Call, CheckedTx, TxLimits, UnsignedBody};

#[cfg(test)]
mod tests;
