//! [`Signer`]: a secp256k1 account key that signs transaction bodies (low-S, over sha256).

use crate::error::{ClientError, Result};
use hanok_types::{Address, Hash, PublicKey, SecretKey, SIGNATURE_LEN};
use std::fmt;

/// An account's signing key, with its address and `did:key`.
///
/// Signatures are deterministic (RFC 6979) 64-byte compact `r || s` with `s` in the lower half,
/// over sha256 of the exact body bytes: what every node checks.
#[derive(Clone)]
pub struct Signer {
    key: SecretKey,
    public: PublicKey,
}

impl Signer {
    /// A signer for `key`.
    pub fn new(key: SecretKey) -> Signer {
        let public = key.public_key();
        Signer { key, public }
    }

    /// From 32 secret bytes.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] if the bytes are zero or not below the curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Signer> {
        SecretKey::from_bytes(bytes)
            .map(Signer::new)
            .ok_or_else(|| {
                ClientError::Invalid("secret key is zero or not below the secp256k1 order".into())
            })
    }

    /// From 64 hex digits (an optional `0x` prefix and surrounding whitespace are accepted).
    ///
    /// # Errors
    /// [`ClientError::Invalid`] if it is not 32 bytes of hex or not a valid key.
    pub fn from_hex(hex_key: &str) -> Result<Signer> {
        let s = hex_key.trim();
        let s = s.strip_prefix("0x").unwrap_or(s);
        let bytes = hex::decode(s)
            .map_err(|e| ClientError::Invalid(format!("secret key is not hex: {e}")))?;
        let arr = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            ClientError::Invalid(format!("secret key must be 32 bytes, got {}", bytes.len()))
        })?;
        Signer::from_bytes(&arr)
    }

    /// A key derived from a seed string, exactly as the dev genesis and tests derive theirs.
    /// For development only: a seed a person can remember is not a secret.
    pub fn from_dev_seed(seed: &str) -> Signer {
        Signer::new(SecretKey::from_seed(seed.as_bytes()))
    }

    /// The key of dev account `name` of `hanok node --dev` (`authority`, `official-1`..`3`,
    /// `bank-a`, `bank-b`, `broker`, `seller`, `buyer`): the seed `hanok-dev/<name>`.
    /// For development only.
    pub fn dev(name: &str) -> Signer {
        Signer::new(SecretKey::dev(name))
    }

    /// The account address: the first 20 bytes of sha256 of the compressed public key.
    pub fn address(&self) -> Address {
        self.public.address()
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The 33-byte compressed public key, as `TxBody.sender_pubkey` carries it.
    pub fn public_key_bytes(&self) -> [u8; 33] {
        self.public.to_bytes()
    }

    /// The account as a `did:key`.
    pub fn did(&self) -> String {
        self.public.did()
    }

    /// The secret key as 64 hex digits, for writing a key file. Handle with care.
    pub fn secret_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// Signs sha256 of `body` (the exact `TxBody` bytes to send): 64-byte compact low-S.
    pub fn sign(&self, body: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.key.sign_prehash(&Hash::sha256(body))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "Signer({})", self.address())
    }
}
