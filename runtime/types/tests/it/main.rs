//! Property tests of the transaction decoder and its checks: arbitrary and mutated bytes never
//! panic, every refusal is a typed [`TxError`], a transaction passes exactly when a model of
//! the checks says it should, and what passes is exactly what was signed.
//!
//! Cases per property: `HANOK_FUZZ_CASES` (default 256); see docs/testing.md.

use hanok_proto::v1;
use hanok_types::{sign_body, CheckedTx, SecretKey, TxError, TxLimits, UnsignedBody};
use proptest::prelude::*;
use proptest::test_runner::Config;
use prost::Message;

const CHAIN: &str = "hanok-prop";

fn config() -> Config {
    let cases = std::env::var("HANOK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        // Failures are reported with their minimal input; nothing is written into the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

fn limits() -> TxLimits {
    TxLimits {
        max_tx_bytes: 4_096,
        min_gas: 1_000,
        max_gas: 1_000_000,
        max_calls: 4,
    }
}

/// Bytes of length `len` mostly, of any length up to `len + 8` sometimes.
fn sized(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), len),
        1 => prop::collection::vec(any::<u8>(), 0..len + 8),
    ]
}

/// A call whose fields have arbitrary lengths (well-formed or not).
fn call() -> impl Strategy<Value = v1::Call> {
    let bytes = |max| prop::collection::vec(any::<u8>(), 0..max);
    prop_oneof![
        1 => Just(v1::Call { kind: None }),
        3 => (sized(20), bytes(64)).prop_map(|(contract, msg)| v1::Call {
            kind: Some(v1::call::Kind::Execute(v1::Execute { contract, msg })),
        }),
        3 => (sized(32), ".{0,8}", prop::option::of(sized(20)), bytes(32)).prop_map(
            |(code_hash, label, admin, msg)| v1::Call {
                kind: Some(v1::call::Kind::Instantiate(v1::Instantiate {
                    code_hash,
                    label,
                    admin,
                    msg,
                })),
            }
        ),
        2 => bytes(2_000).prop_map(|wasm| v1::Call {
            kind: Some(v1::call::Kind::Upload(v1::Upload { wasm })),
        }),
    ]
}

/// Whether `call` is well formed: its kind is set and its addresses and hashes have their
/// lengths.
fn call_ok(call: &v1::Call) -> bool {
    match &call.kind {
        None => false,
        Some(v1::call::Kind::Execute(e)) => e.contract.len() == 20,
        Some(v1::call::Kind::Instantiate(i)) => {
            i.code_hash.len() == 32 && i.admin.as_ref().is_none_or(|a| a.len() == 20)
        }
        Some(v1::call::Kind::Upload(_)) => true,
    }
}

/// A body signed by `key`, with fields that are right or wrong in every way the checks look at.
fn body() -> impl Strategy<Value = (u8, v1::TxBody)> {
    (
        any::<u8>(),
        prop_oneof![3 => Just(CHAIN.to_string()), 1 => ".{0,12}"],
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.9),
        any::<u64>(),
        any::<u64>(),
        prop_oneof![4 => 1_000u64..=1_000_000, 1 => any::<u64>()],
        prop_oneof![
            4 => prop::collection::vec(call(), 1..=4),
            1 => prop::collection::vec(call(), 0..6),
        ],
        ".{0,16}",
    )
        .prop_map(
            |(seed, chain_id, own_sender, own_key, nonce, expiry, gas, calls, memo)| {
                let key = SecretKey::from_seed(&[seed]);
                let other = SecretKey::from_seed(&[seed.wrapping_add(1)]);
                let sender = if own_sender { &key } else { &other };
                let pubkey = if own_key { &key } else { &other };
                let body = v1::TxBody {
                    chain_id,
                    sender: sender.address().0.to_vec(),
                    sender_pubkey: pubkey.public_key().to_bytes().to_vec(),
                    nonce,
                    expiry_height: expiry,
                    gas_limit: gas,
                    calls,
                    memo,
                };
                (seed, body)
            },
        )
}

/// What the checks should decide about `signed` (signed by the key of `seed`), in their order.
fn expected(seed: u8, body: &v1::TxBody, raw_len: usize) -> Result<(), &'static str> {
    let l = limits();
    let key = SecretKey::from_seed(&[seed]);
    if raw_len > l.max_tx_bytes {
        return Err("size");
    }
    if body.chain_id != CHAIN {
        return Err("chain");
    }
    if body.sender != body.sender_pubkey_address() {
        return Err("sender");
    }
    if body.sender_pubkey != key.public_key().to_bytes().to_vec() {
        return Err("signature");
    }
    if body.gas_limit < l.min_gas || body.gas_limit > l.max_gas {
        return Err("gas");
    }
    if body.calls.is_empty() || body.calls.len() > l.max_calls {
        return Err("calls");
    }
    if !body.calls.iter().all(call_ok) {
        return Err("call");
    }
    Ok(())
}

trait SenderOfKey {
    fn sender_pubkey_address(&self) -> Vec<u8>;
}

impl SenderOfKey for v1::TxBody {
    fn sender_pubkey_address(&self) -> Vec<u8> {
        hanok_types::PublicKey::from_compressed(&self.sender_pubkey)
            .map(|k| k.address().0.to_vec())
            .unwrap_or_default()
    }
}

fn kind(e: &TxError) -> &'static str {
    match e {
        TxError::TooLarge { .. }
        | TxError::TooLargeUpload { .. }
        | TxError::TooLargeCalls { .. } => "size",
        TxError::WrongChain { .. } => "chain",
        TxError::SenderMismatch { .. } | TxError::BadSender { .. } => "sender",
        TxError::BadSignature | TxError::HighS | TxError::BadSignatureEncoding => "signature",
        TxError::GasTooLow { .. } | TxError::GasTooHigh { .. } => "gas",
        TxError::NoCalls | TxError::TooManyCalls { .. } => "calls",
        TxError::BadCall { .. } => "call",
        _ => "other",
    }
}

/// The generator of `the_checks_agree_with_their_model` reaches both outcomes often enough for
/// that property to mean something.
#[test]
fn the_model_test_reaches_both_outcomes() {
    let mut runner = proptest::test_runner::TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let accepted = std::cell::Cell::new(0u32);
    runner
        .run(&body(), |(seed, body)| {
            let raw = sign_body(&SecretKey::from_seed(&[seed]), &body).encode_to_vec();
            if CheckedTx::check(&raw, CHAIN, &limits()).is_ok() {
                accepted.set(accepted.get() + 1);
            }
            Ok(())
        })
        .expect("runs");
    let accepted = accepted.get();
    assert!(
        accepted >= 10,
        "only {accepted} of 200 generated transactions pass"
    );
    assert!(
        accepted <= 190,
        "{accepted} of 200 pass: refusals are not exercised"
    );
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes at all: a typed refusal or a transaction, never a panic; and whatever passes
    /// re-encodes to a transaction that passes again, unchanged.
    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(tx) = CheckedTx::check(&raw, CHAIN, &limits()) {
            let again = CheckedTx::check(&tx.to_signed().encode_to_vec(), CHAIN, &limits());
            prop_assert_eq!(again, Ok(tx));
        }
        let _ = UnsignedBody::decode(&raw, &limits());
    }

    /// A signed body passes exactly when every check the model knows of holds, and is refused
    /// by the first one that fails; what passes carries the signed fields.
    #[test]
    fn the_checks_agree_with_their_model((seed, body) in body()) {
        let signed = sign_body(&SecretKey::from_seed(&[seed]), &body);
        let raw = signed.encode_to_vec();
        let got = CheckedTx::check(&raw, CHAIN, &limits());
        match (expected(seed, &body, raw.len()), &got) {
            (Ok(()), Ok(tx)) => {
                prop_assert_eq!(tx.nonce(), body.nonce);
                prop_assert_eq!(tx.gas_limit(), body.gas_limit);
                prop_assert_eq!(tx.calls().len(), body.calls.len());
                prop_assert_eq!(tx.body_bytes(), signed.body.as_slice());
                prop_assert_eq!(tx.hash(), hanok_types::Hash::sha256(&raw));
            }
            (Err(want), Err(e)) => prop_assert_eq!(want, kind(e), "{}", e),
            (want, got) => prop_assert!(false, "model says {:?}, checks say {:?}", want, got),
        }
    }

    /// A valid transaction with bytes flipped, cut or inserted: refused with a typed error, or
    /// (when the change only touched protobuf framing the decoder skips) accepted as exactly
    /// the transaction that was signed, under the same hash.
    #[test]
    fn mutated_transactions_are_refused_or_unchanged(
        seed in any::<u8>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let key = SecretKey::from_seed(&[seed]);
        let body = v1::TxBody {
            chain_id: CHAIN.into(),
            sender: key.address().0.to_vec(),
            sender_pubkey: key.public_key().to_bytes().to_vec(),
            nonce: 3,
            expiry_height: 100,
            gas_limit: 50_000,
            calls: vec![v1::Call {
                kind: Some(v1::call::Kind::Execute(v1::Execute {
                    contract: vec![7; 20],
                    msg: br#"{"transfer":{"amount":"5"}}"#.to_vec(),
                })),
            }],
            memo: "m".into(),
        };
        let raw = sign_body(&key, &body).encode_to_vec();
        let original = CheckedTx::check(&raw, CHAIN, &limits()).expect("the original passes");
        let mut bytes = raw.clone();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] ^= byte | 1,
                1 => bytes.truncate(i),
                _ => bytes.insert(i, byte),
            }
        }
        match CheckedTx::check(&bytes, CHAIN, &limits()) {
            Ok(tx) => {
                prop_assert_eq!(tx.body_bytes(), original.body_bytes());
                prop_assert_eq!(tx.signature(), original.signature());
                prop_assert_eq!(tx.hash(), original.hash());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
