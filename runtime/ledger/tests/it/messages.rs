//! The system contracts' JSON messages under random input, as a client can send them: random
//! JSON, and messages shaped like the contracts' JSON Schemas (every variant, with fields of
//! wrong, odd or right types). Property: every message is answered by the contract itself —
//! a result or a contract error — never a VM fault (a trap, a panic, a misused host function),
//! and the same message gives the same answer twice.
//!
//! Cases: `HANOK_FUZZ_CASES` (default 256); see docs/testing.md.

use crate::{open, T};
use hanok_ledger::dev::{DevKeys, SystemContracts, DEV_CHAIN_ID};
use hanok_ledger::{Ledger, LedgerError};
use hanok_proto::v1;
use hanok_types::Address;
use hanok_vm::CallError;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use prost::Message;
use serde_json::{json, Map, Value};

fn cases() -> u32 {
    std::env::var("HANOK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Each variant of a contract's message (from its committed JSON Schema) with its field names.
fn variants(contract: &str, kind: &str) -> Vec<(String, Vec<String>)> {
    let path = format!(
        "{}/../../contracts/{contract}/schema/{kind}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema")).expect("json");
    let one_of = schema["oneOf"].as_array().cloned().unwrap_or_default();
    one_of
        .iter()
        .filter_map(|v| {
            // `{"required": [name], "properties": {name: {"properties": {field: ...}}}}`, or a
            // bare string enum for variants without fields.
            if let Some(name) = v["required"][0].as_str() {
                let fields = v["properties"][name]["properties"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                Some(vec![(name.to_string(), fields)])
            } else {
                v["enum"].as_array().map(|names| {
                    names
                        .iter()
                        .filter_map(|n| Some((n.as_str()?.to_string(), Vec::new())))
                        .collect()
                })
            }
        })
        .flatten()
        .collect()
}

/// Leaves that reach the contracts' decoders: addresses of real accounts and contracts, amounts
/// at the edges of u128, ids, and arbitrary strings and numbers.
fn leaf(known: Vec<Value>) -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "340282366920938463463374607431768211455",
            "340282366920938463463374607431768211456",
            "1e3",
            "",
            "P-1",
            "0x",
        ])
        .prop_map(|s| json!(s)),
        "[ -~]{0,24}".prop_map(Value::String),
        "[0-9a-f]{40}".prop_map(Value::String),
        prop::sample::select(known),
    ]
}

fn value(known: Vec<Value>) -> impl Strategy<Value = Value> {
    leaf(known).prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A message for one of `variants`: mostly schema-shaped, sometimes any JSON at all.
fn message(
    variants: Vec<(String, Vec<String>)>,
    known: Vec<Value>,
) -> impl Strategy<Value = Value> {
    let shaped = (
        prop::sample::select(variants),
        prop::collection::vec((any::<bool>(), value(known.clone())), 0..8),
        prop::option::of(("[a-z]{1,6}", value(known.clone()))),
        0u8..8,
    )
        .prop_map(|((name, fields), values, extra, form)| {
            let mut body = Map::new();
            for (field, (keep, v)) in fields.iter().zip(values) {
                if keep || form == 0 {
                    body.insert(field.clone(), v);
                }
            }
            if let Some((k, v)) = extra.filter(|_| form == 1) {
                body.insert(k, v);
            }
            match form {
                2 => json!(name),
                3 => json!({ name: [] }),
                _ => json!({ name: body }),
            }
        });
    prop_oneof![4 => shaped, 1 => value(known)]
}

struct Fixture {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    keys: DevKeys,
    contracts: Vec<(&'static str, Address)>,
    known: Vec<Value>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = open(dir.path()).expect("ledger");
    let keys = DevKeys::new();
    let sys = SystemContracts::of(&keys.authority().address);
    let contracts = vec![
        ("identity", sys.identity),
        ("registry", sys.registry),
        ("krw", sys.krw),
        ("escrow", sys.escrow),
        ("deal", sys.deal),
    ];
    let mut known: Vec<Value> = keys
        .all()
        .iter()
        .map(|a| serde_json::to_value(a.address).expect("address"))
        .collect();
    known.extend(
        contracts
            .iter()
            .map(|(_, a)| serde_json::to_value(a).expect("address")),
    );
    Fixture {
        _dir: dir,
        ledger,
        keys,
        contracts,
        known,
    }
}

/// Queries: answered or refused by the contract, the same way twice.
#[test]
fn queries_are_answered_by_the_contract_never_by_a_fault() {
    let f = fixture();
    let answered = std::cell::Cell::new(0u32);
    for (name, address) in f.contracts.clone() {
        let strategy = message(variants(name, "query"), f.known.clone());
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |msg| {
                let bytes = msg.to_string().into_bytes();
                let first = f.ledger.query(address, &bytes);
                match &first {
                    Ok(_) => answered.set(answered.get() + 1),
                    Err(LedgerError::Call {
                        error: CallError::Contract { .. },
                        ..
                    }) => {}
                    Err(other) => {
                        prop_assert!(false, "{name} query {msg}: {other}")
                    }
                }
                let second = f.ledger.query(address, &bytes);
                prop_assert_eq!(
                    format!("{first:?}"),
                    format!("{second:?}"),
                    "{} answered {} twice differently",
                    name,
                    msg
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // The generator reaches the contracts' answers, not only their refusals.
    let (answered, total) = (answered.get(), cases() * 5);
    assert!(
        answered * 20 >= total,
        "only {answered} of {total} queries were answered"
    );
    eprintln!("{answered} of {total} random queries answered, the rest refused by the contract");
}

/// Executes (as a dry run by accounts of every role): a receipt that is OK or a contract error,
/// never a VM error.
#[test]
fn executes_end_in_a_contract_outcome_never_a_vm_error() {
    let f = fixture();
    let ok = std::cell::Cell::new(0u32);
    let senders: Vec<Address> = f.keys.all().iter().map(|a| a.address).collect();
    for (name, address) in f.contracts.clone() {
        let strategy = (
            message(variants(name, "execute"), f.known.clone()),
            prop::sample::select(senders.clone()),
        );
        let mut runner = TestRunner::new(Config {
            // A dry run costs more than a query; a quarter of the cases per contract.
            cases: (cases() / 4).max(16),
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |(msg, sender)| {
                let body = v1::TxBody {
                    chain_id: DEV_CHAIN_ID.into(),
                    sender: sender.0.to_vec(),
                    calls: vec![v1::Call {
                        kind: Some(v1::call::Kind::Execute(v1::Execute {
                            contract: address.0.to_vec(),
                            msg: msg.to_string().into_bytes(),
                        })),
                    }],
                    ..Default::default()
                };
                let signed = v1::SignedTx {
                    body: body.encode_to_vec(),
                    signature: Vec::new(),
                };
                let sim = f.ledger.simulate(signed, T).map_err(|e| {
                    TestCaseError::fail(format!("{name} execute {msg}: dry run failed: {e}"))
                })?;
                let status = sim.receipt.status;
                if status == v1::TxStatus::Ok as i32 {
                    ok.set(ok.get() + 1);
                }
                prop_assert!(
                    status == v1::TxStatus::Ok as i32
                        || status == v1::TxStatus::ContractError as i32,
                    "{} execute {} by {}: status {} ({:?})",
                    name,
                    msg,
                    sender,
                    status,
                    sim.receipt.error
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!(
        "{} random executes succeeded, the rest refused by the contract",
        ok.get()
    );
}
