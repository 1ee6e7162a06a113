//! `did:key` for secp256k1 keys: `did:key:z` + base58btc(0xe7 0x01 || 33-byte compressed key).

use crate::keys::PublicKey;

/// The unsigned-varint encoding of multicodec `secp256k1-pub` (0xe7).
const SECP256K1_PUB: [u8; 2] = [0xe7, 0x01];
const PREFIX: &str = "did:key:z";

/// Why a `did:key` string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidError {
    /// Not `did:key:z...` (only base58btc multibase is accepted).
    #[error("expected `did:key:z` followed by base58btc")]
    Prefix,
    /// The multibase payload is not base58btc.
    #[error("the key part is not valid base58btc")]
    Base58,
    /// Another key type than secp256k1-pub (multicodec 0xe7).
    #[error("not a secp256k1 key (multicodec 0xe7): this ledger uses secp256k1 accounts")]
    Codec,
    /// Not a valid 33-byte compressed secp256k1 point.
    #[error("not a valid compressed secp256k1 public key")]
    Key,
}

/// Renders `key` as a `did:key`.
pub fn to_did_key(key: &PublicKey) -> String {
    let mut raw = Vec::with_capacity(35);
    raw.extend_from_slice(&SECP256K1_PUB);
    raw.extend_from_slice(&key.to_bytes());
    format!("{PREFIX}{}", bs58::encode(raw).into_string())
}

/// Parses a `did:key` of a secp256k1 key.
///
/// # Errors
/// [`DidError`] naming what is wrong.
pub fn parse_did_key(did: &str) -> Result<PublicKey, DidError> {
    let b58 = did.strip_prefix(PREFIX).ok_or(DidError::Prefix)?;
    let raw = bs58::decode(b58).into_vec().map_err(|_| DidError::Base58)?;
    let key = raw.strip_prefix(&SECP256K1_PUB).ok_or(DidError::Codec)?;
    PublicKey::from_compressed(key).ok_or(DidError::Key)
}
