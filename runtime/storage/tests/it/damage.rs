//! The block log under random damage, through its public API only (open, append, read,
//! reopen): flipped bytes, cuts, zeroed ranges and appended garbage. Whatever the damage, `open`
//! answers a typed error or a log whose every record is exactly what was appended, with
//! nothing lost before the damage; it never panics and never hands back altered bytes.
//!
//! Cases: `HANOK_FUZZ_CASES` (default 128); see docs/testing.md.

use hanok_storage::{BlockLog, LOG_HEADER_LEN};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::fs;

fn config() -> Config {
    let cases = std::env::var("HANOK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

#[derive(Debug, Clone)]
enum Damage {
    /// XOR these bytes (never with 0) at these positions.
    Flip(Vec<(prop::sample::Index, u8)>),
    /// Cut the file at this position.
    Truncate(prop::sample::Index),
    /// Zero a range starting here.
    Zero(prop::sample::Index, usize),
    /// Append bytes after the last record.
    Garbage(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        prop::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..4).prop_map(Damage::Flip),
        any::<prop::sample::Index>().prop_map(Damage::Truncate),
        (any::<prop::sample::Index>(), 1usize..64).prop_map(|(i, n)| Damage::Zero(i, n)),
        prop::collection::vec(any::<u8>(), 1..80).prop_map(Damage::Garbage),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_damaged_log_opens_to_a_typed_error_or_an_intact_prefix(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..10),
        first in 0u64..3,
        damage in damage(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.log");
        // Where each record ends in the file, from the file's size after each append: the
        // test does not assume the record format.
        let mut ends = Vec::new();
        {
            let (mut log, _) = BlockLog::open(&path).expect("open");
            for (i, p) in payloads.iter().enumerate() {
                log.append(first + i as u64, p).expect("append");
                ends.push(fs::metadata(&path).expect("size").len());
            }
        }
        let mut bytes = fs::read(&path).expect("read");
        let len = bytes.len();
        // The first byte the damage touched (the file length for appended garbage).
        let damaged_at = match &damage {
            Damage::Flip(flips) => {
                let mut lowest = len;
                for (at, x) in flips {
                    let i = at.index(len);
                    bytes[i] ^= x;
                    lowest = lowest.min(i);
                }
                lowest
            }
            Damage::Truncate(at) => {
                let i = at.index(len);
                bytes.truncate(i);
                i
            }
            Damage::Zero(at, n) => {
                let i = at.index(len);
                let end = (i + n).min(len);
                let changed = bytes[i..end].iter().position(|b| *b != 0).map(|p| i + p);
                bytes[i..end].fill(0);
                changed.unwrap_or(len)
            }
            Damage::Garbage(g) => {
                bytes.extend_from_slice(g);
                len
            }
        } as u64;
        fs::write(&path, &bytes).expect("write damaged");

        // Records wholly before the damage must survive any repair.
        let intact = ends.iter().filter(|e| **e <= damaged_at).count();
        let opened = BlockLog::open(&path);
        let (mut log, _) = match opened {
            Err(e) => {
                // A refusal is fine, but a pure cut at or after the header is a torn tail,
                // which every version of the log repairs.
                let torn = matches!(damage, Damage::Truncate(_)) && damaged_at >= LOG_HEADER_LEN;
                prop_assert!(!torn, "a torn tail was refused: {}", e);
                prop_assert!(!e.to_string().is_empty());
                return Ok(());
            }
            Ok(opened) => opened,
        };
        let count = log
            .last_height()
            .map_or(0, |last| (last + 1 - log.first_height().unwrap_or(first)) as usize);
        prop_assert!(count >= intact, "{} records survived, {} were before the damage", count, intact);
        prop_assert!(count <= payloads.len());
        if count > 0 {
            prop_assert_eq!(log.first_height(), Some(first));
        }
        // Every record is exactly what was appended.
        for (i, p) in payloads.iter().enumerate().take(count) {
            match log.read(first + i as u64) {
                Ok(Some(got)) => prop_assert_eq!(&got, p),
                other => prop_assert!(false, "height {}: {:?}", first + i as u64, other),
            }
        }
        let replayed: Vec<_> = log.iter_from(0).collect::<Result<_, _>>().expect("replay");
        prop_assert_eq!(replayed.len(), count);
        // The log goes on: the next height appends and reads back, and a reopen agrees.
        let next = first + count as u64;
        // An incomplete last record is only reported by `open`; cutting it is the caller's
        // explicit step (nothing acknowledged is ever cut implicitly).
        if log.torn_tail().is_some() {
            log.cut_torn_tail().expect("cut the torn tail");
        }
        log.append(next, b"after").expect("append after recovery");
        prop_assert_eq!(log.read(next).expect("read"), Some(b"after".to_vec()));
        drop(log);
        let (log, _) = BlockLog::open(&path).expect("reopen");
        prop_assert_eq!(log.last_height(), Some(next));
        prop_assert_eq!(log.read(next).expect("read"), Some(b"after".to_vec()));
    }

    /// Any bytes at all as a log file: a typed error or a log that reads back consistently.
    #[test]
    fn arbitrary_files_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), magic in any::<bool>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.log");
        let mut file = Vec::new();
        if magic {
            // A real header, so the record parser is reached.
            let (log, _) = BlockLog::open(&path).expect("open");
            drop(log);
            file = fs::read(&path).expect("read");
        }
        file.extend_from_slice(&bytes);
        fs::write(&path, &file).expect("write");
        if let Ok((log, _)) = BlockLog::open(&path) {
            for r in log.iter_from(0) {
                prop_assert!(r.is_ok(), "an opened log reads back: {:?}", r);
            }
        }
    }
}
