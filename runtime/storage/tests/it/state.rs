//! StateStore: atomic block commits, reads, ranges, indexes, proofs, reopen.

use std::collections::BTreeMap;

use hanok_storage::{
    height_key, Error, Index, IndexWrite, SparseMerkleTree, StateStore, EMPTY_HASH,
};

type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn writes(items: &[(&[u8], Option<&[u8]>)]) -> Writes {
    items
        .iter()
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect()
}

fn block_index(height: u64, body: &[u8]) -> Vec<IndexWrite> {
    vec![
        IndexWrite {
            index: Index::BlocksByHash,
            key: body.to_vec(),
            value: height_key(height).to_vec(),
        },
        IndexWrite {
            index: Index::Receipts,
            key: format!("tx{height}").into_bytes(),
            value: b"ok".to_vec(),
        },
    ]
}

#[test]
fn fresh_store_is_empty() {
    let s = StateStore::temporary().unwrap();
    assert_eq!(s.applied_height(), None);
    assert_eq!(s.state_root(), EMPTY_HASH);
    assert_eq!(s.get(b"x").unwrap(), None);
    assert_eq!(s.range(b"", None).count(), 0);
}

#[test]
fn commit_read_range_index_and_proof() {
    let mut s = StateStore::temporary().unwrap();
    let w0 = writes(&[
        (b"c/1", Some(b"one")),
        (b"c/2", Some(b"two")),
        (b"d/1", Some(b"x")),
    ]);
    let r0 = s.commit_block(0, &w0, &block_index(0, b"block0")).unwrap();
    assert_eq!(s.applied_height(), Some(0));
    assert_eq!(s.state_root(), r0);

    let w1 = writes(&[(b"c/2", None), (b"c/3", Some(b"three"))]);
    let r1 = s.commit_block(1, &w1, &block_index(1, b"block1")).unwrap();
    assert_ne!(r0, r1);

    // Same root as a standalone tree given the same writes.
    let mut t = SparseMerkleTree::temporary().unwrap();
    let flat = |w: &Writes| {
        w.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    t.apply(&flat(&w0)).unwrap();
    assert_eq!(t.apply(&flat(&w1)).unwrap(), r1);

    assert_eq!(s.get(b"c/1").unwrap(), Some(b"one".to_vec()));
    assert_eq!(s.get(b"c/2").unwrap(), None);
    let c: Vec<_> = s.range(b"c/", Some(b"c0")).map(Result::unwrap).collect();
    assert_eq!(
        c,
        vec![
            (b"c/1".to_vec(), b"one".to_vec()),
            (b"c/3".to_vec(), b"three".to_vec())
        ]
    );
    assert_eq!(s.range(b"d", None).count(), 1);
    assert_eq!(
        s.range(b"z", Some(b"a")).count(),
        0,
        "reversed range is empty"
    );

    assert_eq!(
        s.index_get(Index::BlocksByHash, b"block1").unwrap(),
        Some(height_key(1).to_vec())
    );
    assert_eq!(
        s.index_get(Index::Receipts, b"tx0").unwrap(),
        Some(b"ok".to_vec())
    );
    assert_eq!(s.index_get(Index::Receipts, b"nope").unwrap(), None);

    let (v, p) = s.get_with_proof(b"c/3").unwrap();
    assert_eq!(v.as_deref(), Some(&b"three"[..]));
    p.verify(&r1, b"c/3", Some(b"three")).unwrap();
    let (v, p) = s.get_with_proof(b"c/2").unwrap();
    assert_eq!(v, None);
    p.verify(&r1, b"c/2", None).unwrap();
    assert!(
        p.verify(&r0, b"c/2", None).is_err(),
        "proof is tied to its root"
    );
}

#[test]
fn heights_must_follow_applied_height() {
    let mut s = StateStore::temporary().unwrap();
    s.commit_block(5, &Writes::new(), &[]).unwrap();
    for bad in [5, 7, 0] {
        assert!(matches!(
            s.commit_block(bad, &Writes::new(), &[]),
            Err(Error::HeightMismatch { expected: 6, got }) if got == bad
        ));
    }
    s.commit_block(6, &Writes::new(), &[]).unwrap();
    assert_eq!(s.applied_height(), Some(6));
}

#[test]
fn reopen_recovers_height_root_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let root = {
        let mut s = StateStore::open(dir.path()).unwrap();
        for h in 0..10u64 {
            let w = writes(&[
                (&h.to_be_bytes(), Some(b"v")),
                (b"counter", Some(&h.to_le_bytes())),
            ]);
            s.commit_block(h, &w, &block_index(h, b"b")).unwrap();
        }
        s.flush().unwrap();
        s.state_root()
    };
    let mut s = StateStore::open(dir.path()).unwrap();
    assert_eq!(s.applied_height(), Some(9));
    assert_eq!(s.state_root(), root);
    assert_eq!(
        s.get(b"counter").unwrap(),
        Some(9u64.to_le_bytes().to_vec())
    );
    let (v, p) = s.get_with_proof(&3u64.to_be_bytes()).unwrap();
    p.verify(&root, &3u64.to_be_bytes(), v.as_deref()).unwrap();
    s.commit_block(10, &writes(&[(b"counter", None)]), &[])
        .unwrap();
    assert_eq!(s.get(b"counter").unwrap(), None);
}

#[test]
fn index_writes_are_idempotent_and_outside_the_root() {
    // Writing the same index entry again (a later block naming an earlier hash) is harmless,
    // and indexes never move the state root.
    let mut s = StateStore::temporary().unwrap();
    let idx = block_index(0, b"block0");
    let mut other = StateStore::temporary().unwrap();
    let w = writes(&[(b"k", Some(b"v"))]);
    s.commit_block(0, &w, &idx).unwrap();
    other.commit_block(0, &w, &[]).unwrap();
    assert_eq!(
        s.state_root(),
        other.state_root(),
        "indexes are not part of the state root"
    );
    s.commit_block(1, &Writes::new(), &idx).unwrap();
    assert_eq!(
        s.index_get(Index::BlocksByHash, b"block0").unwrap(),
        Some(height_key(0).to_vec())
    );
}

#[test]
fn a_database_held_by_a_live_store_is_refused() {
    // Reopening just after a close is retried briefly (sled releases its lock
    // late); a store that stays open must still be reported, not waited on forever.
    let dir = tempfile::tempdir().unwrap();
    let _held = StateStore::open(dir.path()).unwrap();
    assert!(matches!(StateStore::open(dir.path()), Err(Error::Db(_))));
}

#[test]
fn a_state_written_in_the_binary_node_format_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        // What builds before the sixteen-ary tree left behind: a root and no root reference.
        let db = sled::open(dir.path()).unwrap();
        let state = db.open_tree("state").unwrap();
        state.insert(b"mroot", &[7u8; 32]).unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        StateStore::open(dir.path()),
        Err(Error::StateFormat { .. })
    ));
}

#[test]
fn a_state_in_the_layout_with_separate_index_trees_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        // What builds before the one-batch layout left behind: an applied height and no
        // layout marker (their indexes were trees of their own).
        let db = sled::open(dir.path()).unwrap();
        let state = db.open_tree("state").unwrap();
        state
            .insert(b"mapplied_height", &3u64.to_be_bytes())
            .unwrap();
        state.insert(b"mtop", &[0u8]).unwrap();
        db.open_tree("receipts")
            .unwrap()
            .insert(b"tx", b"r")
            .unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        StateStore::open(dir.path()),
        Err(Error::StateFormat { .. })
    ));
}

/// A store of a few blocks, flushed and closed.
fn stored(dir: &std::path::Path) {
    let mut s = StateStore::open(dir).unwrap();
    for h in 0..20u64 {
        let w: Writes = (0..20u64)
            .map(|i| (format!("k{h}-{i}").into_bytes(), Some(vec![h as u8; 100])))
            .collect();
        s.commit_block(h, &w, &block_index(h, b"b")).unwrap();
    }
    s.flush().unwrap();
}

/// Opens with a deadline: sled releases the lock of a just-closed store from a thread.
fn open_settled(dir: &std::path::Path) -> Result<StateStore, Error> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match StateStore::open(dir) {
            Err(Error::Db(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

#[test]
fn a_damaged_database_is_reported_as_damage_never_a_panic() {
    use std::os::unix::fs::FileExt;
    // sled 0.34 panics on a garbled segment header ("tried to serialize Uninitialized") and
    // reports a garbled config file as written by "a sled version earlier than 0.29".
    let garble_db = |p: &std::path::Path| {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(p.join("db"))
            .unwrap();
        f.write_all_at(&[0xab; 4096], 0).unwrap();
    };
    let garble_conf = |p: &std::path::Path| {
        std::fs::write(
            p.join("conf"),
            [0xff, 0xfe, 0, 0x12, 0xff, 0xfe, 0, 0x12, 1, 2],
        )
        .unwrap()
    };
    for (what, damage) in [
        ("segment", &garble_db as &dyn Fn(&std::path::Path)),
        ("config", &garble_conf),
    ] {
        let dir = tempfile::tempdir().unwrap();
        stored(dir.path());
        // Wait until the closed store's lock is gone before damaging its files.
        drop(open_settled(dir.path()).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(100));
        damage(dir.path());
        match open_settled(dir.path()) {
            Err(Error::DamagedState(why)) => eprintln!("{what}: {why}"),
            other => panic!(
                "{what}: expected DamagedState, got {:?}",
                other.map(|s| s.applied_height())
            ),
        }
    }
}

/// Blocks committed but not yet written to sled (the background writer held back) are what
/// every read answers: values, deletions, ranges, indexes and proofs, exactly as after sled
/// has them; reopening after the writes are released finds the same.
#[test]
fn reads_answer_from_blocks_queued_for_sled() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = StateStore::open(dir.path()).unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut rng = crate::Rng::new(7);
    let check = |s: &StateStore, model: &BTreeMap<Vec<u8>, Vec<u8>>, height: u64| {
        let all: Vec<(Vec<u8>, Vec<u8>)> = s.range(b"", None).map(Result::unwrap).collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> =
            model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(all, expected, "full range at height {height}");
        let part: Vec<Vec<u8>> = s
            .range(b"k/10", Some(b"k/30"))
            .map(|r| r.unwrap().0)
            .collect();
        let expected: Vec<Vec<u8>> = model
            .range(b"k/10".to_vec()..b"k/30".to_vec())
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(part, expected, "part of the range at height {height}");
        assert_eq!(s.range(b"k/5", Some(b"k/1")).count(), 0);
        for i in 0..60u64 {
            let key = format!("k/{i}").into_bytes();
            let (value, proof) = s.get_with_proof(&key).unwrap();
            assert_eq!(value.as_ref(), model.get(&key), "k/{i} at height {height}");
            proof
                .verify(&s.state_root(), &key, value.as_deref())
                .unwrap();
        }
        assert_eq!(
            s.index_get(Index::BlocksByHash, format!("block{height}").as_bytes())
                .unwrap(),
            Some(height_key(height).to_vec())
        );
        assert_eq!(s.applied_height(), Some(height));
    };
    let mut height = 0u64;
    for round in 0..4 {
        // Hold the writes for some rounds (everything queued), let them through for others.
        let held = round % 2 == 0;
        if held {
            // Everything earlier in sled first: a held writer cannot make room in a full queue.
            s.flush().unwrap();
        }
        s.hold_background_writes(held);
        for _ in 0..hanok_storage::MAX_PENDING_BLOCKS {
            let mut w = Writes::new();
            for _ in 0..12 {
                let key = format!("k/{}", rng.below(60)).into_bytes();
                let value = (rng.below(4) != 0).then(|| format!("v{height}").into_bytes());
                match &value {
                    Some(v) => model.insert(key.clone(), v.clone()),
                    None => model.remove(&key),
                };
                w.insert(key, value);
            }
            let index = vec![IndexWrite {
                index: Index::BlocksByHash,
                key: format!("block{height}").into_bytes(),
                value: height_key(height).to_vec(),
            }];
            s.commit_block(height, &w, &index).unwrap();
            check(&s, &model, height);
            height += 1;
        }
    }
    // Released and flushed: sled holds it all, and a reopened store answers the same.
    s.hold_background_writes(false);
    let root = s.state_root();
    s.flush().unwrap();
    drop(s);
    let s = open_settled(dir.path()).unwrap();
    assert_eq!(s.state_root(), root);
    check(&s, &model, height - 1);
}

/// Dropping a store with blocks still queued writes them first: a clean stop leaves sled
/// complete, with nothing to replay.
#[test]
fn a_store_dropped_with_queued_blocks_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = StateStore::open(dir.path()).unwrap();
    s.hold_background_writes(true);
    for h in 0..5u64 {
        s.commit_block(h, &writes(&[(format!("k{h}").as_bytes(), Some(b"v"))]), &[])
            .unwrap();
    }
    let root = s.state_root();
    s.hold_background_writes(false);
    drop(s);
    let s = open_settled(dir.path()).unwrap();
    assert_eq!(s.applied_height(), Some(4));
    assert_eq!(s.state_root(), root);
    assert_eq!(s.get(b"k4").unwrap().as_deref(), Some(&b"v"[..]));
}

/// A value read once (and so cached in front of sled) follows every later commit: a new
/// value, a deletion, a re-insert, whether the write is still queued for sled or written.
#[test]
fn a_value_read_before_a_commit_is_never_served_stale() {
    let mut s = StateStore::temporary().unwrap();
    s.commit_block(
        0,
        &writes(&[(b"hot", Some(b"v0")), (b"cold", Some(b"c"))]),
        &[],
    )
    .unwrap();
    s.flush().unwrap();
    // Read from sled (and cached), including a key that does not exist.
    assert_eq!(s.get(b"hot").unwrap().as_deref(), Some(&b"v0"[..]));
    assert_eq!(s.get(b"absent").unwrap(), None);
    let steps: [(&[u8], Option<&[u8]>); 4] = [
        (b"hot", Some(b"v1")),
        (b"hot", None),
        (b"absent", Some(b"now")),
        (b"hot", Some(b"v3")),
    ];
    for (i, (key, value)) in steps.into_iter().enumerate() {
        let height = i as u64 + 1;
        s.commit_block(height, &writes(&[(key, value)]), &[])
            .unwrap();
        // Once while the write may still be queued, once after sled has it.
        assert_eq!(s.get(key).unwrap().as_deref(), value, "step {i}, queued");
        s.flush().unwrap();
        assert_eq!(s.get(key).unwrap().as_deref(), value, "step {i}, written");
        assert_eq!(s.get(b"cold").unwrap().as_deref(), Some(&b"c"[..]));
    }
}
