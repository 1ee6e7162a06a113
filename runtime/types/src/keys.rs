//! secp256k1 keys: [`PublicKey`] (verify, address, did:key) and [`SecretKey`] (low-S signing).

use crate::{Address, Hash};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use std::fmt;

/// Length of a compressed SEC1 public key.
pub const PUBKEY_LEN: usize = 33;
/// Length of a compact `r || s` signature.
pub const SIGNATURE_LEN: usize = 64;

/// The account address of a compressed public key: the first 20 bytes of its sha256.
pub fn address_of(compressed: &[u8; PUBKEY_LEN]) -> Address {
    let digest = Hash::sha256(compressed);
    let mut a = [0u8; 20];
    a.copy_from_slice(&digest.0[..20]);
    Address(a)
}

/// A secp256k1 public key, kept in its 33-byte compressed form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    compressed: [u8; PUBKEY_LEN],
    key: VerifyingKey,
}

impl PublicKey {
    /// Parses a 33-byte compressed SEC1 key; `None` for any other length or an invalid point.
    ///
    /// Decompressing a point costs a field square root (≈ 10 µs), so keys parsed recently are
    /// kept in a small bounded cache shared by all threads.
    pub fn from_compressed(bytes: &[u8]) -> Option<PublicKey> {
        let compressed = <[u8; PUBKEY_LEN]>::try_from(bytes).ok()?;
        if compressed[0] != 0x02 && compressed[0] != 0x03 {
            return None;
        }
        if let Some(key) = key_cache::get(&compressed) {
            return Some(PublicKey { compressed, key });
        }
        let key = VerifyingKey::from_sec1_bytes(&compressed).ok()?;
        key_cache::put(compressed, key);
        Some(PublicKey { compressed, key })
    }

    #[cfg(test)]
    fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The 33 compressed bytes.
    pub fn to_bytes(&self) -> [u8; PUBKEY_LEN] {
        self.compressed
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        address_of(&self.compressed)
    }

    /// This key as a `did:key`.
    pub fn did(&self) -> String {
        crate::did::to_did_key(self)
    }

    /// Verifies a 64-byte compact low-S signature over a 32-byte prehash.
    ///
    /// # Errors
    /// [`SigError`] saying why: length, encoding, high-S, or no match.
    pub fn verify_prehash(&self, prehash: &Hash, sig: &[u8]) -> Result<(), SigError> {
        if sig.len() != SIGNATURE_LEN {
            return Err(SigError::Length(sig.len()));
        }
        let parsed = Signature::from_slice(sig).map_err(|_| SigError::Encoding)?;
        // k256 would refuse a high-S signature too, but only as "does not verify"; a client
        // needs to know that normalising s is the fix.
        if !hanok_abi::secp256k1::is_low_s(sig) {
            return Err(SigError::HighS);
        }
        let sig = parsed;
        self.key
            .verify_prehash(&prehash.0, &sig)
            .map_err(|_| SigError::Mismatch)
    }
}

/// Recently decompressed public keys, by their compressed bytes.
///
/// Only valid points are stored, under their exact 33 bytes, so a hit returns what
/// `VerifyingKey::from_sec1_bytes` would. Bounded: two generations of at most [`GENERATION`]
/// keys each (≈ 0.6 MiB in all); when the current one is full it becomes the previous one and
/// the old previous one is dropped, and a key found in the previous generation moves back into
/// the current one, so keys in steady use stay while a flood of new keys cannot grow it. The
/// map uses std's randomly keyed SipHash, since the keys come from the network.
mod key_cache {
    use super::PUBKEY_LEN;
    use k256::ecdsa::VerifyingKey;
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex, MutexGuard};

    /// Keys per generation.
    pub(super) const GENERATION: usize = 2048;

    #[derive(Default)]
    struct Generations {
        current: HashMap<[u8; PUBKEY_LEN], VerifyingKey>,
        previous: HashMap<[u8; PUBKEY_LEN], VerifyingKey>,
    }

    impl Generations {
        fn insert(&mut self, compressed: [u8; PUBKEY_LEN], key: VerifyingKey) {
            if self.current.len() >= GENERATION {
                self.previous = std::mem::take(&mut self.current);
            }
            self.current.insert(compressed, key);
        }
    }

    static CACHE: LazyLock<Mutex<Generations>> = LazyLock::new(Mutex::default);

    fn lock() -> MutexGuard<'static, Generations> {
        // Nothing panics while the lock is held; a poisoned cache is still consistent.
        CACHE.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(compressed: &[u8; PUBKEY_LEN]) -> Option<VerifyingKey> {
        let mut cache = lock();
        if let Some(key) = cache.current.get(compressed) {
            return Some(*key);
        }
        let key = cache.previous.remove(compressed)?;
        cache.insert(*compressed, key);
        Some(key)
    }

    pub(super) fn put(compressed: [u8; PUBKEY_LEN], key: VerifyingKey) {
        lock().insert(compressed, key);
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::SecretKey;

        #[test]
        fn generations_stay_bounded_and_keep_keys_in_use() {
            let key = *SecretKey::from_seed(b"cache").public_key().key();
            let name = |i: usize| {
                let mut c = [0u8; PUBKEY_LEN];
                c[..8].copy_from_slice(&(i as u64).to_be_bytes());
                c
            };
            let mut g = Generations::default();
            for i in 0..GENERATION.saturating_mul(5) {
                g.insert(name(i), key);
                // Key 0 is in steady use: looked up (and so promoted) after every insert.
                if let Some(k) = g.previous.remove(&name(0)) {
                    g.insert(name(0), k);
                }
                assert!(g.current.len() <= GENERATION);
                assert!(g.previous.len() <= GENERATION);
            }
            assert!(g.current.contains_key(&name(0)) || g.previous.contains_key(&name(0)));
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.compressed))
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigError {
    /// Not 64 bytes.
    Length(usize),
    /// r or s zero or out of range.
    Encoding,
    /// s in the upper half.
    HighS,
    /// Valid encoding, wrong key or message.
    Mismatch,
}

/// The seed of dev account `name`: `hanok-dev/<name>`. Its key is sha256 of the seed's UTF-8
/// bytes, re-hashed while the digest is not a valid secret key (zero or not below the curve
/// order); see [`SecretKey::from_seed`].
pub fn dev_seed(name: &str) -> String {
    format!("hanok-dev/{name}")
}

/// A secp256k1 secret key that signs deterministically (RFC 6979) and always low-S.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// From 32 big-endian bytes; `None` if zero or not below the curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<SecretKey> {
        SigningKey::from_bytes(bytes.into()).ok().map(SecretKey)
    }

    /// A key derived from a seed (sha256 of it, re-hashed until valid). For tests, dev genesis
    /// and examples only: a seed that a person can remember is not a secret.
    pub fn from_seed(seed: &[u8]) -> SecretKey {
        let mut h = Hash::sha256(seed);
        loop {
            if let Some(k) = SecretKey::from_bytes(&h.0) {
                return k;
            }
            h = Hash::sha256(&h.0);
        }
    }

    /// The key of dev account `name` (`authority`, `official-1`, `bank-a`...): [`SecretKey::from_seed`]
    /// of the seed `hanok-dev/<name>` ([`dev_seed`]). The one definition of the dev keys, for the
    /// dev genesis and `hanok_client::Signer::dev` alike. Never use on a real chain.
    pub fn dev(name: &str) -> SecretKey {
        SecretKey::from_seed(dev_seed(name).as_bytes())
    }

    /// The 32 secret bytes. Handle with care.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        let key = *self.0.verifying_key();
        let point = key.to_encoded_point(true);
        let mut compressed = [0u8; PUBKEY_LEN];
        compressed.copy_from_slice(point.as_bytes());
        PublicKey { compressed, key }
    }

    /// The account address.
    pub fn address(&self) -> Address {
        self.public_key().address()
    }

    /// Signs a 32-byte prehash: 64-byte compact `r || s`, s normalised to the lower half.
    pub fn sign_prehash(&self, prehash: &Hash) -> [u8; SIGNATURE_LEN] {
        // RFC 6979 signing of a 32-byte prehash with a valid key cannot fail; if it ever did,
        // an all-zero signature is refused by every verifier, so nothing unsafe is produced.
        let sig: Signature = match self.0.sign_prehash(&prehash.0) {
            Ok(s) => s,
            Err(_) => return [0; SIGNATURE_LEN],
        };
        let sig = sig.normalize_s().unwrap_or(sig);
        sig.to_bytes().into()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.address())
    }
}

/// The chain's identity as `hanok status` shows it (`genesis_hash`) and a certificate names:
/// sha256(`"hanok-consortium/v1"` ‖ the genesis hash (block 0's `prev_hash`) ‖ each genesis
/// proposer's 33-byte key, in genesis order). It covers who may sign blocks, which the genesis
/// hash alone does not; consortium members compare it before they talk.
pub fn chain_genesis_hash(genesis_hash: &Hash, proposers: &[PublicKey]) -> Hash {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"hanok-consortium/v1");
    bytes.extend_from_slice(&genesis_hash.0);
    for p in proposers {
        bytes.extend_from_slice(&p.to_bytes());
    }
    Hash::sha256(&bytes)
}

/// What a node signs to attest that the block it applied has the header hashing to
/// `header_hash`: sha256(`"hanok/attest/v1"` ‖ header hash). Distinct from a proposer's block
/// signature (over the header hash itself), so an attestation is never a block signature.
pub fn attestation_digest(header_hash: &Hash) -> Hash {
    let mut bytes = b"hanok/attest/v1".to_vec();
    bytes.extend_from_slice(&header_hash.0);
    Hash::sha256(&bytes)
}
