//! The tree's node file: nodes out of sled, garbage compacted, and a node file that is
//! missing, cut or damaged rebuilt from the state's values with the same root.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

use hanok_storage::{height_key, Index, IndexWrite, StateStore, NODE_FILE, NODE_FILE_COMPACTING};

type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn index(height: u64) -> Vec<IndexWrite> {
    vec![IndexWrite {
        index: Index::BlocksByHash,
        key: format!("block{height}").into_bytes(),
        value: height_key(height).to_vec(),
    }]
}

/// Block `h` of a workload that rewrites a few hundred hot keys and adds a few new ones,
/// as the transfer bench does (titles moving back and forth, a history entry each).
fn block(h: u64) -> Writes {
    let mut w = Writes::new();
    for i in 0..40u64 {
        let hot = (h * 7 + i * 13) % 300;
        w.insert(
            format!("hot/{hot}").into_bytes(),
            Some(format!("{h}:{i}").into_bytes()),
        );
        w.insert(
            format!("hist/{h}/{i}").into_bytes(),
            Some(vec![h as u8; 24]),
        );
    }
    if h.is_multiple_of(5) {
        w.insert(format!("hist/{}/0", h.saturating_sub(5)).into_bytes(), None);
    }
    w
}

/// Opens with a deadline: sled releases the lock of a just-closed store from a thread.
fn open(dir: &Path) -> StateStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match StateStore::open(dir) {
            Err(hanok_storage::Error::Db(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.unwrap(),
        }
    }
}

/// Commits blocks `from..to`; returns the root after the last.
fn commit(s: &mut StateStore, from: u64, to: u64) -> hanok_storage::Hash {
    for h in from..to {
        s.commit_block(h, &block(h), &index(h)).unwrap();
    }
    s.state_root()
}

/// Every value and its proof check out against the store's root.
fn assert_proofs(s: &StateStore, blocks: u64) {
    for h in [0, blocks / 2, blocks - 1] {
        let key = format!("hist/{h}/3").into_bytes();
        let (value, proof) = s.get_with_proof(&key).unwrap();
        assert_eq!(value.as_deref(), Some(&vec![h as u8; 24][..]));
        proof
            .verify(&s.state_root(), &key, value.as_deref())
            .unwrap();
    }
    let absent = b"hist/none".to_vec();
    let (value, proof) = s.get_with_proof(&absent).unwrap();
    assert_eq!(value, None);
    proof.verify(&s.state_root(), &absent, None).unwrap();
}

#[test]
fn nodes_live_in_the_node_file_and_garbage_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    s.set_compact_min_bytes(64 << 10);
    let root = commit(&mut s, 0, 300);
    let stats = s.node_file_stats();
    assert!(stats.compactions > 0, "no compaction ran: {stats:?}");
    assert_eq!(stats.last_compaction_error, None);
    let on_disk = std::fs::metadata(dir.path().join(NODE_FILE)).unwrap().len();
    assert_eq!(on_disk, stats.file_bytes);
    assert_proofs(&s, 300);
    // The same blocks without compaction leave a file several times larger.
    let bare = tempfile::tempdir().unwrap();
    let mut never = open(bare.path());
    never.set_compact_min_bytes(u64::MAX);
    assert_eq!(commit(&mut never, 0, 300), root);
    let uncompacted = never.node_file_stats();
    assert_eq!(uncompacted.compactions, 0);
    assert!(
        stats.file_bytes * 3 < uncompacted.file_bytes,
        "garbage not reclaimed: {stats:?} against {uncompacted:?}"
    );
    s.flush().unwrap();
    drop(s);

    let s = open(dir.path());
    assert_eq!(s.tree_recovery(), None);
    assert_eq!(s.state_root(), root);
    assert_eq!(s.node_file_stats().live_bytes, stats.live_bytes);
    assert_proofs(&s, 300);
}

/// A node file damaged in each way a crash or a disk can leave it is cut back or rebuilt
/// from the state's values: same root, every proof good, and the store keeps committing.
#[test]
fn a_missing_cut_or_damaged_node_file_is_rebuilt_with_the_same_root() {
    type Damage = fn(&Path);
    let cases: [(&str, Damage); 5] = [
        ("deleted", |p| std::fs::remove_file(p).unwrap()),
        ("emptied", |p| std::fs::write(p, b"").unwrap()),
        ("cut in half", |p| {
            let len = std::fs::metadata(p).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            f.set_len(len / 2).unwrap();
        }),
        ("a flipped byte in the middle", |p| {
            let len = std::fs::metadata(p).unwrap().len();
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .unwrap();
            let mut b = [0u8];
            f.read_exact_at(&mut b, len / 2).unwrap();
            f.write_all_at(&[b[0] ^ 0x40], len / 2).unwrap();
        }),
        ("a zeroed header", |p| {
            let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            f.write_all_at(&[0; 12], 0).unwrap();
        }),
    ];
    for (what, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path());
        let root = commit(&mut s, 0, 60);
        s.flush().unwrap();
        drop(s);
        damage(&dir.path().join(NODE_FILE));

        let mut s = open(dir.path());
        let why = s.tree_recovery().map(str::to_owned);
        assert!(
            why.as_deref().is_some_and(|w| w.contains("rebuilt")),
            "{what}: expected a rebuild, got {why:?}"
        );
        eprintln!("{what}: {}", why.unwrap_or_default());
        assert_eq!(s.state_root(), root, "{what}");
        assert_proofs(&s, 60);
        // It keeps committing on the rebuilt file, to the same roots as an undamaged store.
        let next = commit(&mut s, 60, 70);
        let mut clean = StateStore::temporary().unwrap();
        assert_eq!(commit(&mut clean, 0, 70), next, "{what}");
    }
}

/// Records after the root's own (what a crash during an append leaves) are cut without a
/// rebuild: the tree is whole before them.
#[test]
fn a_torn_tail_after_the_tree_is_cut_and_nothing_else_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let root = commit(&mut s, 0, 40);
    s.flush().unwrap();
    drop(s);
    let path = dir.path().join(NODE_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    // Half a record head and a few bytes of garbage after the last complete record.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all_at(&[0x55, 0x01, 0, 0, 0xaa, 0xbb], len)
        .unwrap();
    let s = open(dir.path());
    let why = s.tree_recovery().unwrap_or_default().to_owned();
    assert!(why.contains("cut") && !why.contains("rebuilt"), "{why}");
    assert_eq!(s.state_root(), root);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    assert_proofs(&s, 40);
}

/// A compaction killed before its rename leaves `tree.nodes.compact` beside the intact old
/// file: opening deletes it and uses the old file.
#[test]
fn a_leftover_compaction_file_is_deleted_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let root = commit(&mut s, 0, 30);
    s.flush().unwrap();
    drop(s);
    let leftover = dir.path().join(NODE_FILE_COMPACTING);
    std::fs::write(&leftover, b"HANOKTRN\x01\0\0\0 partial").unwrap();
    let s = open(dir.path());
    assert!(!leftover.exists());
    assert_eq!(s.tree_recovery(), None);
    assert_eq!(s.state_root(), root);
    assert_proofs(&s, 30);
}

/// Values that do not hash to sled's root (sled itself damaged) are not papered over by a
/// rebuild: the store is reported damaged, for the chain to rebuild from the log.
#[test]
fn values_that_disagree_with_the_root_are_reported_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    commit(&mut s, 0, 20);
    s.flush().unwrap();
    drop(s);
    // Change one value behind the tree's back through a raw sled handle, and lose the nodes.
    {
        let db = sled::open(dir.path()).unwrap();
        let t = db.open_tree("state").unwrap();
        t.insert(b"vhot/1", b"forged".to_vec()).unwrap();
        db.flush().unwrap();
    }
    std::fs::remove_file(dir.path().join(NODE_FILE)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let result = loop {
        match StateStore::open(dir.path()) {
            Err(hanok_storage::Error::Db(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => break other,
        }
    };
    match result {
        Err(hanok_storage::Error::DamagedState(why)) => {
            assert!(why.contains("stored root"), "{why}")
        }
        other => panic!(
            "expected DamagedState, got {:?}",
            other.map(|s| s.state_root())
        ),
    }
}
