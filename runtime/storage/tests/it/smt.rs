//! SparseMerkleTree: known roots, order independence, proofs, tampering, persistence, a randomized model check.

use std::collections::BTreeMap;

use hanok_storage::proof::{internal_hash, key_hash, leaf_hash, path_bit, sha256};
use hanok_storage::{Hash, Proof, ProofError, SparseMerkleTree, EMPTY_HASH};

use crate::Rng;

type Batch = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn put(k: &[u8], v: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.to_vec(), Some(v.to_vec()))
}

fn del(k: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    (k.to_vec(), None)
}

fn root_of(pairs: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
    let mut t = SparseMerkleTree::temporary().unwrap();
    let batch: Batch = pairs.iter().map(|(k, v)| put(k, v)).collect();
    t.apply(&batch).unwrap()
}

/// The compact binary tree's root computed straight from its leaves, with no storage: the
/// definition the stored (sixteen-ary) tree must agree with.
fn reference_root(pairs: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
    fn subtree(leaves: &[(Hash, Hash)], depth: usize) -> Hash {
        match leaves {
            [] => EMPTY_HASH,
            [(k, v)] => leaf_hash(k, v),
            _ => {
                let split = leaves.partition_point(|(k, _)| !path_bit(k, depth));
                let (l, r) = leaves.split_at(split);
                internal_hash(&subtree(l, depth + 1), &subtree(r, depth + 1))
            }
        }
    }
    let mut leaves: Vec<(Hash, Hash)> = pairs
        .iter()
        .map(|(k, v)| (key_hash(k), sha256(v)))
        .collect();
    leaves.sort();
    subtree(&leaves, 0)
}

fn check(t: &SparseMerkleTree, key: &[u8], expected: Option<&[u8]>) -> Proof {
    let (value, proof) = t.get_with_proof(key).unwrap();
    assert_eq!(value.as_deref(), expected, "value of {key:?}");
    assert_eq!(
        proof.verify(&t.root(), key, expected),
        Ok(()),
        "proof of {key:?}"
    );
    let decoded = Proof::from_bytes(&proof.to_bytes()).unwrap();
    assert_eq!(decoded, proof);
    proof
}

#[test]
fn empty_tree() {
    let t = SparseMerkleTree::temporary().unwrap();
    assert_eq!(t.root(), EMPTY_HASH);
    let p = check(&t, b"anything", None);
    assert!(p.siblings.is_empty() && p.leaf.is_none());
}

#[test]
fn known_roots_for_one_and_two_leaves() {
    let mut t = SparseMerkleTree::temporary().unwrap();
    let root = t.apply(&[put(b"a", b"1")]).unwrap();
    let la = leaf_hash(&key_hash(b"a"), &sha256(b"1"));
    assert_eq!(root, la, "a lone leaf is the root");

    let root = t.apply(&[put(b"b", b"2")]).unwrap();
    let (ka, kb) = (key_hash(b"a"), key_hash(b"b"));
    let lb = leaf_hash(&kb, &sha256(b"2"));
    let split = (0..256)
        .find(|&i| path_bit(&ka, i) != path_bit(&kb, i))
        .unwrap();
    let mut node = if path_bit(&ka, split) {
        internal_hash(&lb, &la)
    } else {
        internal_hash(&la, &lb)
    };
    for i in (0..split).rev() {
        node = if path_bit(&ka, i) {
            internal_hash(&EMPTY_HASH, &node)
        } else {
            internal_hash(&node, &EMPTY_HASH)
        };
    }
    assert_eq!(
        root, node,
        "leaves sit just below the depth where they split"
    );
    assert_eq!(check(&t, b"a", Some(b"1")).siblings.len(), split + 1);

    // Deleting one lifts the other back to the root.
    assert_eq!(t.apply(&[del(b"b")]).unwrap(), la);
    assert_eq!(t.apply(&[del(b"a")]).unwrap(), EMPTY_HASH);
}

#[test]
fn root_depends_only_on_the_final_set() {
    let mut rng = Rng::new(7);
    let pairs: Vec<_> = (0..200u32)
        .map(|i| (format!("key{i}").into_bytes(), i.to_le_bytes().to_vec()))
        .collect();
    let model: BTreeMap<_, _> = pairs.iter().cloned().collect();
    let expected = root_of(&model);

    for round in 0..4 {
        let mut shuffled = pairs.clone();
        rng.shuffle(&mut shuffled);
        let mut t = SparseMerkleTree::temporary().unwrap();
        // Round 0: one batch; later rounds: batches of varying size.
        let chunk = if round == 0 {
            shuffled.len()
        } else {
            1 + round * 13
        };
        for c in shuffled.chunks(chunk) {
            let batch: Batch = c.iter().map(|(k, v)| put(k, v)).collect();
            t.apply(&batch).unwrap();
        }
        assert_eq!(t.root(), expected, "round {round}");
    }

    // Insert-then-delete of extra keys leaves the same root.
    let mut t = SparseMerkleTree::temporary().unwrap();
    let mut batch: Batch = pairs.iter().map(|(k, v)| put(k, v)).collect();
    batch.push(put(b"temp", b"x"));
    t.apply(&batch).unwrap();
    assert_ne!(t.root(), expected);
    assert_eq!(
        t.apply(&[del(b"temp"), del(b"never-existed")]).unwrap(),
        expected
    );

    // Deleting everything empties the tree.
    let all: Batch = pairs.iter().map(|(k, _)| del(k)).collect();
    assert_eq!(t.apply(&all).unwrap(), EMPTY_HASH);
}

#[test]
fn update_changes_root_and_last_write_in_a_batch_wins() {
    let mut t = SparseMerkleTree::temporary().unwrap();
    let r1 = t.apply(&[put(b"k", b"v1"), put(b"j", b"x")]).unwrap();
    let r2 = t.apply(&[put(b"k", b"v2")]).unwrap();
    assert_ne!(r1, r2);
    assert_eq!(t.apply(&[put(b"k", b"v1")]).unwrap(), r1);
    t.apply(&[put(b"k", b"a"), del(b"k"), put(b"k", b"final")])
        .unwrap();
    check(&t, b"k", Some(b"final"));
    t.apply(&[put(b"k", b"a"), del(b"k")]).unwrap();
    check(&t, b"k", None);
}

#[test]
fn tampered_value_proof_or_root_fails() {
    let mut t = SparseMerkleTree::temporary().unwrap();
    let batch: Batch = (0..50u8).map(|i| put(&[i], &[i, i])).collect();
    let root = t.apply(&batch).unwrap();

    let p = check(&t, &[7], Some(&[7, 7]));
    assert!(!p.siblings.is_empty());
    assert_eq!(
        p.verify(&root, &[7], Some(&[7, 8])),
        Err(ProofError::ValueMismatch)
    );
    assert_eq!(p.verify(&root, &[7], None), Err(ProofError::KeyPresent));
    assert_eq!(
        p.verify(&root, &[8], Some(&[7, 7])),
        Err(ProofError::ValueMismatch)
    );
    let mut bad_root = root;
    bad_root.0[31] ^= 1;
    assert_eq!(
        p.verify(&bad_root, &[7], Some(&[7, 7])),
        Err(ProofError::RootMismatch)
    );
    for i in 0..p.siblings.len() {
        let mut q = p.clone();
        q.siblings[i].0[0] ^= 0x80;
        assert_eq!(
            q.verify(&root, &[7], Some(&[7, 7])),
            Err(ProofError::RootMismatch)
        );
    }
    let mut short = p.clone();
    short.siblings.pop();
    assert!(short.verify(&root, &[7], Some(&[7, 7])).is_err());
    let mut long = p.clone();
    long.siblings.push(EMPTY_HASH);
    assert!(long.verify(&root, &[7], Some(&[7, 7])).is_err());

    // Absence: an absent key's proof must not verify a made-up value, and a
    // present key's proof must not be passed off as another key's absence
    // unless that key really is absent on the same path.
    let absent = check(&t, b"absent", None);
    assert_eq!(
        absent.verify(&root, b"absent", Some(b"x")),
        Err(ProofError::ValueMismatch)
    );
    let mut forged = absent.clone();
    forged.leaf = None;
    if absent.leaf.is_some() {
        assert_eq!(
            forged.verify(&root, b"absent", None),
            Err(ProofError::RootMismatch)
        );
    }
    assert!(p.verify(&root, b"absent", None).is_err());
}

#[test]
fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let root = {
        let mut t = SparseMerkleTree::open(dir.path()).unwrap();
        let batch: Batch = (0..100u32).map(|i| put(&i.to_be_bytes(), b"v")).collect();
        let root = t.apply(&batch).unwrap();
        t.flush().unwrap();
        root
    };
    let mut t = SparseMerkleTree::open(dir.path()).unwrap();
    assert_eq!(t.root(), root);
    check(&t, &5u32.to_be_bytes(), Some(b"v"));
    check(&t, &500u32.to_be_bytes(), None);
    t.apply(&[put(b"new", b"w")]).unwrap();
    check(&t, b"new", Some(b"w"));
}

#[test]
fn randomized_against_btreemap_model() {
    let mut rng = Rng::new(0x4841_4E4F_4B00_0001);
    let mut t = SparseMerkleTree::temporary().unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let keyspace: Vec<Vec<u8>> = (0..400u32).map(|i| format!("k/{i}").into_bytes()).collect();
    let mut ops = 0;
    let mut batches = 0;
    let mut max_depth = 0;
    while ops < 4000 {
        let n = 1 + rng.below(24) as usize;
        let mut batch: Batch = Vec::with_capacity(n);
        for _ in 0..n {
            let key = keyspace[rng.below(keyspace.len() as u64) as usize].clone();
            if rng.below(10) < 3 {
                batch.push(del(&key));
            } else {
                let len = rng.below(40) as usize;
                let value: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                batch.push((key, Some(value)));
            }
        }
        for (k, v) in &batch {
            match v {
                Some(v) => model.insert(k.clone(), v.clone()),
                None => model.remove(k),
            };
        }
        ops += n;
        batches += 1;
        let root = t.apply(&batch).unwrap();
        // Every key touched, checked with a proof against the new root.
        for (k, _) in &batch {
            let p = check(&t, k, model.get(k).map(Vec::as_slice));
            max_depth = max_depth.max(p.siblings.len());
        }
        // Periodically: every key of the key space, and the root against a fresh build.
        if batches % 25 == 0 {
            for k in &keyspace {
                check(&t, k, model.get(k).map(Vec::as_slice));
            }
            assert_eq!(root, root_of(&model), "root is a function of the set");
            assert_eq!(
                root,
                reference_root(&model),
                "root is the binary tree's root"
            );
            let listed: BTreeMap<_, _> = t.range(b"", None).map(Result::unwrap).collect();
            assert_eq!(listed, model);
        }
    }
    assert_eq!(t.root(), root_of(&model));
    // ~log2(400) ≈ 9; a 256-deep tree would show up here.
    assert!(max_depth < 30, "max proof depth {max_depth}");
}

#[test]
fn agrees_with_the_binary_definition_at_every_size() {
    // Small trees exercise lifted leaves and single-child nodes at every nibble boundary.
    let mut t = SparseMerkleTree::temporary().unwrap();
    let mut model = BTreeMap::new();
    for i in 0..300u32 {
        let (k, v) = (format!("parcel/{i}").into_bytes(), i.to_be_bytes().to_vec());
        model.insert(k.clone(), v.clone());
        assert_eq!(
            t.apply(&[(k, Some(v))]).unwrap(),
            reference_root(&model),
            "{i} keys"
        );
    }
    for i in (0..300u32).step_by(3) {
        let k = format!("parcel/{i}").into_bytes();
        model.remove(&k);
        assert_eq!(
            t.apply(&[del(&k)]).unwrap(),
            reference_root(&model),
            "removed {i}"
        );
        check(&t, &k, None);
    }
}

#[test]
fn replaced_nodes_are_deleted() {
    let mut t = SparseMerkleTree::temporary().unwrap();
    let keys: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let batch: Batch = keys.iter().map(|k| put(k, b"0")).collect();
    t.apply(&batch).unwrap();
    let after_insert = t.stored_nodes().unwrap();
    // Random paths: 1 + 16 + 256 full nodes, then ~9 % of the 4,096 third-level slots hold
    // two or more keys (≈ 650 in all); a binary tree would store ≈ 2,900 inner nodes.
    assert!(after_insert < 1000, "{after_insert} nodes for 2,000 keys");
    // Rewriting every value 20 times replaces most nodes each round: none may pile up.
    for round in 1..=20u32 {
        let batch: Batch = keys.iter().map(|k| put(k, &round.to_be_bytes())).collect();
        t.apply(&batch).unwrap();
    }
    assert_eq!(t.stored_nodes().unwrap(), after_insert);
    check(&t, &keys[7], Some(&20u32.to_be_bytes()));
    // Deleting every key leaves no node behind.
    let all: Batch = keys.iter().map(|k| del(k)).collect();
    assert_eq!(t.apply(&all).unwrap(), EMPTY_HASH);
    assert_eq!(t.stored_nodes().unwrap(), 0);
}
