//! Property tests of proof verification: proofs from a reference tree (built here from the
//! hashing rules, independently of the node's `SparseMerkleTree`) verify; any mutation of a
//! proof, its encoding, the claim or the root makes verification fail; decoding arbitrary bytes
//! never panics.
//!
//! Cases per property: `HANOK_FUZZ_CASES` (default 256); see docs/testing.md.

use hanok_proof::{
    internal_hash, key_hash, leaf_hash, path_bit, sha256, Hash, Proof, ProofLeaf, EMPTY_HASH,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::BTreeMap;

fn config() -> Config {
    let cases = std::env::var("HANOK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Leaves as (key hash, value hash), sorted by key hash.
type Leaves = Vec<(Hash, Hash)>;

fn leaves(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> Leaves {
    let mut l: Leaves = map.iter().map(|(k, v)| (key_hash(k), sha256(v))).collect();
    l.sort();
    l
}

/// The root of the subtree at `depth` holding `leaves` (all sharing the path above it): empty,
/// one leaf (compressed to the leaf itself), or the hash of its two halves.
fn root(leaves: &[(Hash, Hash)], depth: usize) -> Hash {
    match leaves {
        [] => EMPTY_HASH,
        [(k, v)] => leaf_hash(k, v),
        _ => {
            let split = leaves.partition_point(|(k, _)| !path_bit(k, depth));
            internal_hash(
                &root(&leaves[..split], depth + 1),
                &root(&leaves[split..], depth + 1),
            )
        }
    }
}

/// The proof for `key`: siblings down its path until the subtree holds at most one leaf.
fn prove(leaves: &[(Hash, Hash)], key: &[u8]) -> Proof {
    let kh = key_hash(key);
    let mut siblings = Vec::new();
    let mut here = leaves;
    let mut depth = 0;
    while here.len() > 1 {
        let split = here.partition_point(|(k, _)| !path_bit(k, depth));
        let (left, right) = here.split_at(split);
        if path_bit(&kh, depth) {
            siblings.push(root(left, depth + 1));
            here = right;
        } else {
            siblings.push(root(right, depth + 1));
            here = left;
        }
        depth += 1;
    }
    Proof {
        siblings,
        leaf: here.first().map(|(key_hash, value_hash)| ProofLeaf {
            key_hash: *key_hash,
            value_hash: *value_hash,
        }),
    }
}

fn state() -> impl Strategy<Value = BTreeMap<Vec<u8>, Vec<u8>>> {
    prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 1..12),
        prop::collection::vec(any::<u8>(), 0..12),
        0..24,
    )
}

/// A state, a key, and the value the state holds for it (`None`: absent).
type Case = (BTreeMap<Vec<u8>, Vec<u8>>, Vec<u8>, Option<Vec<u8>>);

/// A state, a key of it or a fresh one, and the claim that is true of that key.
fn case() -> impl Strategy<Value = Case> {
    (
        state(),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 1..12),
        any::<bool>(),
    )
        .prop_map(|(map, pick, fresh, present)| {
            let key = if present && !map.is_empty() {
                map.keys()
                    .nth(pick.index(map.len()))
                    .cloned()
                    .unwrap_or(fresh)
            } else {
                fresh
            };
            let value = map.get(&key).cloned();
            (map, key, value)
        })
}

proptest! {
    #![proptest_config(config())]

    /// A true claim verifies, through the wire encoding too.
    #[test]
    fn proofs_of_true_claims_verify((map, key, value) in case()) {
        let l = leaves(&map);
        let r = root(&l, 0);
        let proof = prove(&l, &key);
        prop_assert_eq!(proof.verify(&r, &key, value.as_deref()), Ok(()));
        let wire = Proof::from_bytes(&proof.to_bytes()).expect("decodes");
        prop_assert_eq!(&wire, &proof);
        prop_assert_eq!(wire.verify(&r, &key, value.as_deref()), Ok(()));
    }

    /// A false claim about the same key does not verify: another value, absence of a present
    /// key, presence of an absent one, or another root.
    #[test]
    fn false_claims_do_not_verify((map, key, value) in case(), other in prop::collection::vec(any::<u8>(), 0..12), bit in 0usize..256) {
        let l = leaves(&map);
        let r = root(&l, 0);
        let proof = prove(&l, &key);
        if value.as_ref() != Some(&other) {
            prop_assert!(proof.verify(&r, &key, Some(&other)).is_err());
        }
        if value.is_some() {
            prop_assert!(proof.verify(&r, &key, None).is_err());
        }
        let mut wrong_root = r;
        wrong_root.0[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(proof.verify(&wrong_root, &key, value.as_deref()).is_err());
    }

    /// Any change to a proof's encoded bytes: it no longer decodes, or it decodes to another
    /// proof, which does not verify the true claim.
    #[test]
    fn mutated_proofs_do_not_verify(
        (map, key, value) in case(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 1u8.., 0u8..3), 1..4),
    ) {
        let l = leaves(&map);
        let r = root(&l, 0);
        let original = prove(&l, &key).to_bytes();
        let mut bytes = original.clone();
        for (at, x, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if !bytes.is_empty() => bytes[i] ^= x,
                1 => bytes.truncate(i),
                _ => bytes.insert(i.min(bytes.len()), x),
            }
        }
        if let Ok(p) = Proof::from_bytes(&bytes) {
            if bytes != original {
                prop_assert!(
                    p.verify(&r, &key, value.as_deref()).is_err(),
                    "a mutated proof verified: {:?}",
                    p
                );
            }
        }
    }

    /// Arbitrary bytes: decoding never panics, and what decodes re-encodes to the same bytes
    /// (the encoding is canonical, so a proof has one wire form).
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), root in any::<[u8; 32]>(), key in prop::collection::vec(any::<u8>(), 0..8)) {
        if let Ok(p) = Proof::from_bytes(&bytes) {
            prop_assert_eq!(p.to_bytes(), bytes);
            let _ = p.verify(&Hash(root), &key, None);
            let _ = p.verify(&Hash(root), &key, Some(b"v"));
        }
    }
}
