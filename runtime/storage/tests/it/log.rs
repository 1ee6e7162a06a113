//! BlockLog: round trip, reopen, torn and corrupt tails, mid-log corruption, height rules.

use std::fs;
use std::path::Path;

use hanok_storage::proof::sha256;
use hanok_storage::{BlockLog, Error, Recovery, LOG_HEADER_LEN, LOG_MAGIC, LOG_VERSION};

fn payload(h: u64) -> Vec<u8> {
    (0..(h * 37 % 100 + 20)).map(|i| (i ^ h) as u8).collect()
}

/// Encodes one record exactly as the documented format says.
fn record(height: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    r.extend_from_slice(&height.to_le_bytes());
    r.extend_from_slice(payload);
    let sum = sha256(&r);
    r.extend_from_slice(&sum.0);
    r
}

fn header() -> Vec<u8> {
    let mut h = LOG_MAGIC.to_vec();
    h.extend_from_slice(&LOG_VERSION.to_le_bytes());
    h
}

/// Writes heights 0..n and returns the file bytes and the start offset of each record.
fn write_log(path: &Path, n: u64) -> (Vec<u8>, Vec<usize>) {
    let (mut log, rec) = BlockLog::open(path).unwrap();
    assert_eq!(
        rec,
        Recovery {
            truncated_bytes: 0,
            last_height: None
        }
    );
    let mut starts = Vec::new();
    let mut off = LOG_HEADER_LEN as usize;
    for h in 0..n {
        starts.push(off);
        log.append(h, &payload(h)).unwrap();
        off += 44 + payload(h).len();
    }
    drop(log);
    let bytes = fs::read(path).unwrap();
    assert_eq!(bytes.len(), off);
    (bytes, starts)
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
}

#[test]
fn reopen_keeps_records_and_stays_appendable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    write_log(&path, 5);
    let (mut log, rec) = BlockLog::open(&path).unwrap();
    assert_eq!(
        rec,
        Recovery {
            truncated_bytes: 0,
            last_height: Some(4)
        }
    );
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
fn torn_tail_at_every_byte_of_last_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, starts) = write_log(&path, 3);
    let last = starts[2];
    for cut in 0..(bytes.len() - last) {
        fs::write(&path, &bytes[..last + cut]).unwrap();
        let (mut log, rec) = BlockLog::open(&path).unwrap();
        assert_eq!(
            rec,
            Recovery {
                truncated_bytes: cut as u64,
                last_height: Some(1)
            },
            "cut at {cut}"
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), last as u64);
        log.append(2, b"rewritten").unwrap();
        drop(log);
        let (log, rec) = BlockLog::open(&path).unwrap();
        assert_eq!(
            rec,
            Recovery {
                truncated_bytes: 0,
                last_height: Some(2)
            }
        );
        assert_eq!(log.read(2).unwrap(), Some(b"rewritten".to_vec()));
    }
}

#[test]
fn flipped_byte_in_last_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, starts) = write_log(&path, 3);
    let last = starts[2];
    for i in last..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x40;
        fs::write(&path, &bad).unwrap();
        let (mut log, rec) = BlockLog::open(&path).unwrap();
        assert_eq!(
            rec,
            Recovery {
                truncated_bytes: (bytes.len() - last) as u64,
                last_height: Some(1)
            },
            "flip at {i}"
        );
        log.append(2, &payload(2)).unwrap();
        assert_eq!(log.read(2).unwrap(), Some(payload(2)));
    }
}

#[test]
fn flipped_byte_in_middle_record_is_an_error_and_nothing_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, starts) = write_log(&path, 3);
    for i in starts[1]..starts[2] {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        match BlockLog::open(&path) {
            Err(Error::CorruptLog { offset, .. }) => assert_eq!(offset, starts[1] as u64),
            other => panic!("flip at {i}: expected CorruptLog, got {other:?}"),
        }
        assert_eq!(fs::read(&path).unwrap(), bad, "file must be left untouched");
    }
}

#[test]
fn garbage_after_last_valid_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (mut bytes, _) = write_log(&path, 2);
    let good = bytes.len();
    bytes.extend_from_slice(&[0xAB; 7]);
    fs::write(&path, &bytes).unwrap();
    let (_, rec) = BlockLog::open(&path).unwrap();
    assert_eq!(
        rec,
        Recovery {
            truncated_bytes: 7,
            last_height: Some(1)
        }
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), good as u64);
}

#[test]
fn valid_record_with_wrong_height_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let mut bytes = header();
    bytes.extend(record(0, b"a"));
    bytes.extend(record(5, b"b"));
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        BlockLog::open(&path),
        Err(Error::CorruptLog { .. })
    ));
}

#[test]
fn hand_encoded_records_match_the_documented_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let mut bytes = header();
    bytes.extend(record(7, b"seven"));
    bytes.extend(record(8, b"eight"));
    fs::write(&path, &bytes).unwrap();
    let (log, rec) = BlockLog::open(&path).unwrap();
    assert_eq!(
        rec,
        Recovery {
            truncated_bytes: 0,
            last_height: Some(8)
        }
    );
    assert_eq!(log.read(7).unwrap(), Some(b"seven".to_vec()));
}

#[test]
fn torn_or_foreign_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    for n in 0..LOG_HEADER_LEN as usize {
        fs::write(&path, &header()[..n]).unwrap();
        let (mut log, rec) = BlockLog::open(&path).unwrap();
        assert_eq!(
            rec,
            Recovery {
                truncated_bytes: n as u64,
                last_height: None
            }
        );
        log.append(0, b"x").unwrap();
    }
    fs::write(&path, b"not a log at all").unwrap();
    assert!(matches!(BlockLog::open(&path), Err(Error::BadMagic { .. })));
    fs::write(&path, b"PK").unwrap();
    assert!(matches!(BlockLog::open(&path), Err(Error::BadMagic { .. })));
    let mut v2 = LOG_MAGIC.to_vec();
    v2.extend_from_slice(&2u32.to_le_bytes());
    fs::write(&path, &v2).unwrap();
    assert!(matches!(
        BlockLog::open(&path),
        Err(Error::UnsupportedVersion { found: 2, .. })
    ));
}

#[test]
fn read_detects_later_bit_rot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.log");
    let (bytes, starts) = write_log(&path, 2);
    let (log, _) = BlockLog::open(&path).unwrap();
    let mut bad = bytes.clone();
    bad[starts[0] + 20] ^= 1;
    fs::write(&path, &bad).unwrap();
    assert!(matches!(log.read(0), Err(Error::CorruptLog { .. })));
    assert_eq!(log.read(1).unwrap(), Some(payload(1)));
}
