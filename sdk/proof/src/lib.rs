//! `hanok-proof`: sparse-Merkle hashing and offline proof verification. Depends only on `sha2`
//! and `hanok-abi` (for the one 32-byte [`Hash`](struct@Hash) type; `no_std`, no dependency of
//! ours), so clients (`hanok-client`, a verifier in a browser or an auditor's tool) check state
//! proofs without the node's storage stack; `hanok-storage` builds its tree on these same
//! functions.
//!
//! Hashing (all SHA-256):
//! - key path: `sha256(key)`, read most-significant bit first, `0` = left;
//! - leaf: `H(0x00 | key_hash | sha256(value))`;
//! - internal node: `H(0x01 | left | right)`;
//! - empty subtree: 32 zero bytes (never a SHA-256 output in practice).
//!
//! A subtree holding exactly one leaf is represented by that leaf, so a leaf
//! sits at the shallowest depth where it is alone and paths are ~log2(n) long.

use core::fmt;
use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 digest: hanok's one hash type, [`hanok_abi::Hash`].
pub use hanok_abi::Hash;

/// Hash of an empty subtree, and the root of an empty tree.
pub const EMPTY_HASH: Hash = Hash([0; 32]);

/// Domain-separation tag of a leaf preimage.
pub const LEAF_TAG: u8 = 0x00;
/// Domain-separation tag of an internal-node preimage.
pub const INTERNAL_TAG: u8 = 0x01;

/// Deepest possible leaf: a path is 256 bits.
pub const MAX_DEPTH: usize = 256;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Hash::sha256(bytes)
}

/// The tree path of a key: `sha256(key)`.
pub fn key_hash(key: &[u8]) -> Hash {
    sha256(key)
}

/// Hash of a leaf: `H(0x00 | key_hash | value_hash)`.
pub fn leaf_hash(key_hash: &Hash, value_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_TAG]);
    h.update(key_hash);
    h.update(value_hash);
    Hash(h.finalize().into())
}

/// Hash of an internal node: `H(0x01 | left | right)`.
pub fn internal_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([INTERNAL_TAG]);
    h.update(left);
    h.update(right);
    Hash(h.finalize().into())
}

/// Bit `depth` of a path, most significant bit of byte 0 first; `true` = right.
///
/// `depth` must be below [`MAX_DEPTH`].
pub fn path_bit(path: &Hash, depth: usize) -> bool {
    (path.0[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

/// The leaf found at the end of a proof's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProofLeaf {
    /// `sha256(key)` of the leaf's key.
    pub key_hash: Hash,
    /// `sha256(value)` of the leaf's value.
    pub value_hash: Hash,
}

/// An inclusion or absence proof for one key.
///
/// The path is the key's hash; `siblings[i]` is the sibling at depth `i`
/// (root first). At the end of the path sits either nothing (an empty
/// subtree: the key is absent) or one leaf, which is the key's own leaf
/// (inclusion) or another key's leaf that shares the path so far (absence).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Proof {
    /// Sibling hashes from the root downwards.
    pub siblings: Vec<Hash>,
    /// The leaf at the end of the path, if the path ends at a leaf.
    pub leaf: Option<ProofLeaf>,
}

/// Why a proof was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// More siblings than a 256-bit path has levels.
    TooDeep,
    /// A value was claimed but the proof shows no leaf for the key, or a leaf with another value.
    ValueMismatch,
    /// Absence was claimed but the proof shows the key's leaf.
    KeyPresent,
    /// The proof's leaf is not on the key's path.
    LeafOffPath,
    /// The proof does not hash to the given root.
    RootMismatch,
    /// The serialized proof does not decode.
    Malformed,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProofError::TooDeep => "proof has more than 256 levels",
            ProofError::ValueMismatch => "proof does not show the claimed value for the key",
            ProofError::KeyPresent => "absence claimed but the proof shows the key present",
            ProofError::LeafOffPath => "proof leaf is not on the key's path",
            ProofError::RootMismatch => "proof does not hash to the trusted root",
            ProofError::Malformed => "serialized proof is malformed",
        })
    }
}

impl std::error::Error for ProofError {}

impl Proof {
    /// Checks that, under the trusted `root`, `key` maps to `value` (`None`: is absent).
    ///
    /// ```
    /// use hanok_proof::{key_hash, leaf_hash, sha256, Proof, ProofLeaf};
    /// // A tree holding only `title/P -> Buyer` has that leaf as its root.
    /// let root = leaf_hash(&key_hash(b"title/P"), &sha256(b"Buyer"));
    /// let proof = Proof {
    ///     siblings: vec![],
    ///     leaf: Some(ProofLeaf { key_hash: key_hash(b"title/P"), value_hash: sha256(b"Buyer") }),
    /// };
    /// let proof = Proof::from_bytes(&proof.to_bytes()).unwrap(); // as received over the wire
    /// assert!(proof.verify(&root, b"title/P", Some(b"Buyer")).is_ok());
    /// assert!(proof.verify(&root, b"title/P", Some(b"Seller")).is_err());
    /// assert!(proof.verify(&root, b"title/Q", None).is_ok()); // absence
    /// ```
    ///
    /// # Errors
    /// A [`ProofError`] saying which check failed.
    pub fn verify(&self, root: &Hash, key: &[u8], value: Option<&[u8]>) -> Result<(), ProofError> {
        let depth = self.siblings.len();
        if depth > MAX_DEPTH {
            return Err(ProofError::TooDeep);
        }
        let kh = key_hash(key);
        match (value, &self.leaf) {
            (Some(v), Some(leaf)) => {
                if leaf.key_hash != kh || leaf.value_hash != sha256(v) {
                    return Err(ProofError::ValueMismatch);
                }
            }
            (Some(_), None) => return Err(ProofError::ValueMismatch),
            (None, Some(leaf)) => {
                if leaf.key_hash == kh {
                    return Err(ProofError::KeyPresent);
                }
                // Redundant given the root check for a canonical tree, but cheap:
                // the other key's leaf must lie on our path to prove our absence.
                if (0..depth).any(|i| path_bit(&leaf.key_hash, i) != path_bit(&kh, i)) {
                    return Err(ProofError::LeafOffPath);
                }
            }
            (None, None) => {}
        }
        let mut node = match &self.leaf {
            Some(leaf) => leaf_hash(&leaf.key_hash, &leaf.value_hash),
            None => EMPTY_HASH,
        };
        for (i, sibling) in self.siblings.iter().enumerate().rev() {
            node = if path_bit(&kh, i) {
                internal_hash(sibling, &node)
            } else {
                internal_hash(&node, sibling)
            };
        }
        if &node == root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        }
    }

    /// Encodes the proof: `u16 LE sibling count | siblings | 0x00` or
    /// `... | 0x01 | key_hash | value_hash`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + 32 * self.siblings.len() + 65);
        // At most 256 siblings come out of a tree; saturate rather than wrap so
        // an oversized hand-built proof fails to decode instead of misdecoding.
        let n = u16::try_from(self.siblings.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_le_bytes());
        for s in &self.siblings {
            out.extend_from_slice(&s.0);
        }
        match &self.leaf {
            None => out.push(0),
            Some(leaf) => {
                out.push(1);
                out.extend_from_slice(&leaf.key_hash.0);
                out.extend_from_slice(&leaf.value_hash.0);
            }
        }
        out
    }

    /// Decodes a proof written by [`Proof::to_bytes`].
    ///
    /// # Errors
    /// [`ProofError::Malformed`] if the bytes are not exactly one proof;
    /// [`ProofError::TooDeep`] if it claims more than 256 siblings.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        let (n, rest) = bytes
            .split_first_chunk::<2>()
            .ok_or(ProofError::Malformed)?;
        let n = usize::from(u16::from_le_bytes(*n));
        if n > MAX_DEPTH {
            return Err(ProofError::TooDeep);
        }
        if rest.len() < n * 32 + 1 {
            return Err(ProofError::Malformed);
        }
        let (sib_bytes, rest) = rest.split_at(n * 32);
        let siblings = sib_bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = Hash::default();
                h.0.copy_from_slice(c);
                h
            })
            .collect();
        let leaf = match rest {
            [0] => None,
            [1, tail @ ..] if tail.len() == 64 => {
                let mut key_hash = Hash::default();
                let mut value_hash = Hash::default();
                key_hash.0.copy_from_slice(&tail[..32]);
                value_hash.0.copy_from_slice(&tail[32..]);
                Some(ProofLeaf {
                    key_hash,
                    value_hash,
                })
            }
            _ => return Err(ProofError::Malformed),
        };
        Ok(Proof { siblings, leaf })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_tree_proves_absence_only() {
        let p = Proof::default();
        assert_eq!(p.verify(&EMPTY_HASH, b"k", None), Ok(()));
        assert_eq!(
            p.verify(&EMPTY_HASH, b"k", Some(b"v")),
            Err(ProofError::ValueMismatch)
        );
    }

    #[test]
    fn single_leaf_root_is_leaf_hash() {
        let kh = key_hash(b"k");
        let vh = sha256(b"v");
        let root = leaf_hash(&kh, &vh);
        let p = Proof {
            siblings: vec![],
            leaf: Some(ProofLeaf {
                key_hash: kh,
                value_hash: vh,
            }),
        };
        assert_eq!(p.verify(&root, b"k", Some(b"v")), Ok(()));
        assert_eq!(p.verify(&root, b"k", None), Err(ProofError::KeyPresent));
        assert_eq!(p.verify(&root, b"other", None), Ok(()));
        assert_eq!(
            p.verify(&root, b"k", Some(b"w")),
            Err(ProofError::ValueMismatch)
        );
    }

    #[test]
    fn bytes_round_trip_and_reject_garbage() {
        let p = Proof {
            siblings: vec![Hash([7; 32]), EMPTY_HASH],
            leaf: Some(ProofLeaf {
                key_hash: Hash([1; 32]),
                value_hash: Hash([2; 32]),
            }),
        };
        assert_eq!(Proof::from_bytes(&p.to_bytes()), Ok(p.clone()));
        let mut b = p.to_bytes();
        b.push(0);
        assert_eq!(Proof::from_bytes(&b), Err(ProofError::Malformed));
        assert_eq!(Proof::from_bytes(&[]), Err(ProofError::Malformed));
        assert_eq!(
            Proof::from_bytes(&[0xff, 0xff, 0]),
            Err(ProofError::TooDeep)
        );
        let none = Proof::default();
        assert_eq!(Proof::from_bytes(&none.to_bytes()), Ok(none));
    }
}
