//! BlockLog: round trip, reopen, torn tails (reported, cut only on request), damaged records
//! (refused, file untouched), zero-filled tails, height rules, the version-1 migration, the lock.

use std::fs;
use std::path::Path;

use hanok_storage::proof::sha256;
use hanok_storage::{
    BlockLog, Error, Recovery, LOG_HEADER_LEN, LOG_MAGIC, LOG_VERSION, RECORD_OVERHEAD,
};

fn payload(h: u64) -> Vec<u8> {
    (0..(h * 37 % 100 + 20)).map(|i| (i ^ h) as u8).collect()
}

/// Encodes one record exactly as docs/storage.md says: a head with its own checksum, the
/// payload, a checksum of head fields and payload.
fn record(height: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    r.extend_from_slice(&height.to_le_bytes());
    let head_sum = sha256(&r);
    let mut body = r.clone();
    body.extend_from_slice(payload);
    r.extend_from_slice(&head_sum.0[..8]);
    r.extend_from_slice(payload);
    r.extend_from_slice(&sha256(&body).0);
    r
}

/// A version-1 record: `len | height | payload | sha256(len | height | payload)`.
fn record_v1(height: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    r.extend_from_slice(&height.to_le_bytes());
    r.extend_from_slice(payload);
    let sum = sha256(&r);
    r.extend_from_slice(&sum.0);
    r
}

fn header(version: u32) -> Vec<u8> {
    let mut h = LOG_MAGIC.to_vec();
    h.extend_from_slice(&version.to_le_bytes());
    h
}

fn clean(last_height: Option<u64>) -> Recovery {
    Recovery {
        torn: None,
        last_height,
        reset_header_bytes: 0,
        migrated_from: None,
    }
}

/// Writes heights 0..n and returns the file bytes and the start offset of each record.
fn write_log(path: &Path, n: u64) -> (Vec<u8>, Vec<usize>) {
    let (mut log, rec) = BlockLog::open(path).unwrap();
    assert_eq!(rec, clean(None));
    let mut starts = Vec::new();
    let mut off = LOG_HEADER_LEN as usize;
    for h in 0..n {
        starts.push(off);
        log.append(h, &payload(h)).unwrap();
        off += RECORD_OVERHEAD as usize + payload(h).len();
    }
    drop(log);
    let bytes = fs::read(path).unwrap();
    assert_eq!(bytes.len(), off);
    (bytes, starts)
}

/// Opening `bytes` must fail with `DamagedRecord` at `offset` (and `height`) and leave the file
/// byte-identical. Returns the message.
fn assert_damaged(path: &Path, bytes: &[u8], offset: usize, height: Option<u64>) -> String {
    fs::write(path, bytes).unwrap();
    let msg = match BlockLog::open(path) {
        Err(e @ Error::DamagedRecord { .. }) => {
            let Error::DamagedRecord {
                offset: o,
                height: h,
                ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!((*o, *h), (offset as u64, height), "{e}");
            e.to_string()
        }
        other => panic!("expected DamagedRecord at {offset}, got {other:?}"),
    };
    assert_eq!(
        fs::read(path).unwrap(),
        bytes,
        "file must be left untouched"
    );
    msg
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = BlockLog::open(dir.path().join("blocks.log")).unwrap();
    assert_eq!(log.last_height(), None);
    assert_eq!(log.read(0).unwrap(), None);
    log.append(0, b"").unwrap();
    for h in 1..5 {
        log.append(h, &payload(h)).unwrap();
    }
    assert_eq!(log.last_height(), Some(4));
    assert_eq!(log.first_height(), Some(0));
    assert_eq!(log.read(0).unwrap(), Some(vec![]));
    assert_eq!(log.read(3).unwrap(), Some(payload(3)));
    assert_eq!(log.read(5).unwrap(), None);
    let replay: Vec<_> = log.iter_from(2).map(Result::unwrap).collect();
    assert_eq!(replay, (2..5).map(|h| (h, payload(h))).collect::<Vec<_>>());
    assert_eq!(log.iter_from(9).count(), 0);
    assert_eq!(
        log.record_span(1),
        Some((LOG_HEADER_LEN + RECORD_OVERHEAD, RECORD_OVERHEAD + 20 + 37))
    );
}

#[test]
fn reopen_keeps_records_and_stays_appendable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    write_log(&path, 5);
    let (mut log, rec) = BlockLog::open(&path).unwrap();
    assert_eq!(rec, clean(Some(4)));
    assert_eq!(log.read(4).unwrap(), Some(payload(4)));
    log.append(5, &payload(5)).unwrap();
    drop(log);
    let (log, rec) = BlockLog::open(&path).unwrap();
    assert_eq!(rec.last_height, Some(5));
    assert_eq!(log.iter_from(0).count(), 6);
}

#[test]
fn first_record_may_start_at_any_height() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (mut log, _) = BlockLog::open(&path).unwrap();
    log.append(100, b"a").unwrap();
    log.append(101, b"b").unwrap();
    assert_eq!(log.read(99).unwrap(), None);
    let all: Vec<_> = log.iter_from(0).map(Result::unwrap).collect();
    assert_eq!(all, vec![(100, b"a".to_vec()), (101, b"b".to_vec())]);
}

#[test]
fn height_gap_and_repeat_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = BlockLog::open(dir.path().join("blocks.log")).unwrap();
    log.append(0, b"genesis").unwrap();
    assert!(matches!(
        log.append(2, b"x"),
        Err(Error::HeightMismatch {
            expected: 1,
            got: 2
        })
    ));
    assert!(matches!(
        log.append(0, b"x"),
        Err(Error::HeightMismatch {
            expected: 1,
            got: 0
        })
    ));
    log.append(1, b"one").unwrap();
    assert_eq!(log.last_height(), Some(1));
}

#[test]
fn a_torn_tail_at_every_byte_is_reported_and_cut_only_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, starts) = write_log(&path, 3);
    let last = starts[2];
    for cut in 1..(bytes.len() - last) {
        let torn_bytes = &bytes[..last + cut];
        fs::write(&path, torn_bytes).unwrap();
        let (mut log, rec) = BlockLog::open(&path).unwrap();
        let torn = rec.torn.clone().expect("torn tail reported");
        assert_eq!(
            (torn.offset, torn.len, torn.height, rec.last_height),
            (last as u64, cut as u64, Some(2), Some(1)),
            "cut at {cut}"
        );
        assert_eq!(
            fs::read(&path).unwrap(),
            torn_bytes,
            "open changed the file"
        );
        assert!(matches!(
            log.append(2, b"x"),
            Err(Error::TornTailPending { .. })
        ));
        assert_eq!(log.cut_torn_tail().unwrap(), cut as u64);
        assert_eq!(fs::metadata(&path).unwrap().len(), last as u64);
        log.append(2, b"rewritten").unwrap();
        drop(log);
        let (log, rec) = BlockLog::open(&path).unwrap();
        assert_eq!(rec, clean(Some(2)));
        assert_eq!(log.read(2).unwrap(), Some(b"rewritten".to_vec()));
    }
}

#[test]
fn a_flipped_byte_in_the_last_complete_record_is_damage_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, starts) = write_log(&path, 3);
    let last = starts[2];
    for i in last..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x40;
        let msg = assert_damaged(&path, &bad, last, Some(2));
        assert!(msg.contains("record #2 (block height 2)"), "{msg}");
    }
}

#[test]
fn a_flipped_byte_in_a_middle_record_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, starts) = write_log(&path, 3);
    for i in starts[1]..starts[2] {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert_damaged(&path, &bad, starts[1], Some(1));
    }
}

#[test]
fn the_damage_message_says_where_and_how_to_restore() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, starts) = write_log(&path, 3);
    let mut bad = bytes.clone();
    bad[starts[2] + 30] ^= 1;
    let msg = assert_damaged(&path, &bad, starts[2], Some(2));
    let end = bytes.len();
    for part in [
        format!("record #2 (block height 2) at byte {}", starts[2]),
        format!("bytes {}..{end} ({} bytes)", starts[2], end - starts[2]),
        "its body fails its checksum".into(),
        "changed nothing on disk".into(),
        "from a backup".into(),
        "another member's block log".into(),
        "docs/operations.md".into(),
    ] {
        assert!(msg.contains(&part), "missing {part:?} in: {msg}");
    }
    // Restoring the record's bytes from an intact copy makes the log whole again.
    bad[starts[2]..].copy_from_slice(&bytes[starts[2]..]);
    fs::write(&path, &bad).unwrap();
    let (log, rec) = BlockLog::open(&path).unwrap();
    assert_eq!(rec, clean(Some(2)));
    assert_eq!(log.read(2).unwrap(), Some(payload(2)));
}

#[test]
fn short_garbage_after_the_last_record_is_torn_but_a_bad_complete_head_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, _) = write_log(&path, 2);
    let good = bytes.len();
    let mut short = bytes.clone();
    short.extend_from_slice(&[0xAB; 7]);
    fs::write(&path, &short).unwrap();
    let (mut log, rec) = BlockLog::open(&path).unwrap();
    assert_eq!(
        rec.torn.as_ref().map(|t| (t.offset, t.len)),
        Some((good as u64, 7))
    );
    log.cut_torn_tail().unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), good as u64);
    drop(log);
    // 30 bytes hold a whole head, and it is not one our appends could have written.
    let mut long = bytes.clone();
    long.extend_from_slice(&[0xAB; 30]);
    assert_damaged(&path, &long, good, Some(2));
}

#[test]
fn a_zero_filled_tail_is_torn_but_only_from_a_sector_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, _) = write_log(&path, 2);
    let good = bytes.len();

    // Nothing of the next record landed: the file is longer, all zeros.
    let mut zeros = bytes.clone();
    zeros.resize(good + 4096, 0);
    fs::write(&path, &zeros).unwrap();
    let (_, rec) = BlockLog::open(&path).unwrap();
    assert_eq!(rec.torn.as_ref().map(|t| t.len), Some(4096));
    assert_eq!(fs::read(&path).unwrap(), zeros);

    // The next record's first sectors landed, the rest is zeros to its full length.
    let big: Vec<u8> = (0..3000u32).map(|i| (i % 251 + 1) as u8).collect();
    let full = record(2, &big);
    let mut partial = bytes.clone();
    partial.extend_from_slice(&full);
    let boundary = (good + 1024).div_ceil(512) * 512;
    partial[boundary..].fill(0);
    fs::write(&path, &partial).unwrap();
    let (_, rec) = BlockLog::open(&path).unwrap();
    let torn = rec.torn.expect("torn");
    assert_eq!((torn.offset, torn.height), (good as u64, Some(2)));

    // Zeros that do not start at a sector boundary are not a missing sector: damage.
    let mut complete = bytes.clone();
    complete.extend_from_slice(&full);
    let end = complete.len();
    let mut tail_zeroed = complete.clone();
    let from = if end % 512 < 8 { end - 5 } else { end - 8 };
    tail_zeroed[from..].fill(0);
    if from % 512 != 0 {
        assert_damaged(&path, &tail_zeroed, good, Some(2));
    }

    // More zeros than one record can be: not a torn append.
    fs::write(&path, &bytes).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(good as u64 + (65 << 20)).unwrap();
    drop(f);
    assert!(matches!(
        BlockLog::open(&path),
        Err(Error::DamagedRecord { .. })
    ));
}

#[test]
fn a_valid_record_with_the_wrong_height_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let mut bytes = header(LOG_VERSION);
    bytes.extend(record(0, b"a"));
    let second = bytes.len();
    bytes.extend(record(5, b"b"));
    assert_damaged(&path, &bytes, second, Some(5));
}

#[test]
fn hand_encoded_records_match_the_documented_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let mut bytes = header(LOG_VERSION);
    bytes.extend(record(7, b"seven"));
    bytes.extend(record(8, b"eight"));
    fs::write(&path, &bytes).unwrap();
    let (log, rec) = BlockLog::open(&path).unwrap();
    assert_eq!(rec, clean(Some(8)));
    assert_eq!(log.read(7).unwrap(), Some(b"seven".to_vec()));
    drop(log);
    let (mut log, _) = BlockLog::open(&path).unwrap();
    log.append(9, b"nine").unwrap();
    drop(log);
    bytes.extend(record(9, b"nine"));
    assert_eq!(
        fs::read(&path).unwrap(),
        bytes,
        "append writes the documented bytes"
    );
}

#[test]
fn torn_or_foreign_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    for n in 0..LOG_HEADER_LEN as usize {
        fs::write(&path, &header(LOG_VERSION)[..n]).unwrap();
        let (mut log, rec) = BlockLog::open(&path).unwrap();
        assert_eq!(rec.reset_header_bytes, n as u64);
        assert_eq!(rec.last_height, None);
        log.append(0, b"x").unwrap();
    }
    fs::write(&path, b"not a log at all").unwrap();
    assert!(matches!(BlockLog::open(&path), Err(Error::BadMagic { .. })));
    fs::write(&path, b"PK").unwrap();
    assert!(matches!(BlockLog::open(&path), Err(Error::BadMagic { .. })));
    fs::write(&path, header(3)).unwrap();
    assert!(matches!(
        BlockLog::open(&path),
        Err(Error::UnsupportedVersion { found: 3, .. })
    ));
}

#[test]
fn read_detects_later_bit_rot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, starts) = write_log(&path, 2);
    let (log, _) = BlockLog::open(&path).unwrap();
    let mut bad = bytes.clone();
    bad[starts[0] + 25] ^= 1;
    fs::write(&path, &bad).unwrap();
    assert!(matches!(log.read(0), Err(Error::DamagedRecord { .. })));
    assert_eq!(log.read(1).unwrap(), Some(payload(1)));
}

#[test]
fn a_version_1_log_is_migrated_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let mut v1 = header(1);
    for h in 0..4 {
        v1.extend(record_v1(h, &payload(h)));
    }
    fs::write(&path, &v1).unwrap();
    let (mut log, rec) = BlockLog::open(&path).unwrap();
    let kept = dir.path().join("blocks.log.v1");
    assert_eq!(rec.migrated_from.as_deref(), Some(kept.as_path()));
    assert_eq!((rec.last_height, rec.torn), (Some(3), None));
    assert_eq!(
        fs::read(&kept).unwrap(),
        v1,
        "the original is kept as it was"
    );
    for h in 0..4 {
        assert_eq!(log.read(h).unwrap(), Some(payload(h)));
    }
    log.append(4, b"four").unwrap();
    drop(log);
    let mut v2 = header(LOG_VERSION);
    for h in 0..4 {
        v2.extend(record(h, &payload(h)));
    }
    v2.extend(record(4, b"four"));
    assert_eq!(fs::read(&path).unwrap(), v2);
    assert!(!dir.path().join("blocks.log.migrating").exists());
}

#[test]
fn a_version_1_log_with_a_bad_tail_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let mut v1 = header(1);
    for h in 0..3 {
        v1.extend(record_v1(h, &payload(h)));
    }
    let good = v1.len();
    for bad in [
        {
            let mut b = v1.clone();
            b.extend_from_slice(&record_v1(3, b"torn")[..9]);
            b
        },
        {
            let mut b = v1.clone();
            b[good - 3] ^= 1;
            b
        },
    ] {
        fs::write(&path, &bad).unwrap();
        let err = BlockLog::open(&path).unwrap_err();
        assert!(matches!(err, Error::OldFormat { .. }), "{err:?}");
        assert!(
            err.to_string().contains("nothing was cut or changed"),
            "{err}"
        );
        assert_eq!(fs::read(&path).unwrap(), bad);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("blocks.log")]);
    }
}

#[test]
fn a_log_open_elsewhere_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    write_log(&path, 2);
    let (_held, _) = BlockLog::open(&path).unwrap();
    assert!(matches!(BlockLog::open(&path), Err(Error::Locked { .. })));
}
