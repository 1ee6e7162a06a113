//! Client SDK against the real contracts on the real VM (testkit) and a real sparse-Merkle tree:
//! the state key the client computes is the one the registry writes, and its proofs check.

use hanok_client::proof::{contract_state_key, parcel_state_key, parcel_storage_key, MapKey};
use hanok_client::{v1, verify_state, verify_title, ClientError, TitleProof};
use hanok_storage::SparseMerkleTree;
use hanok_testkit::TestChain;
use hanok_types::Address;
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const PARCEL: &str = "1168010300-1-0123-0000";

/// Identity and registry deployed by an authority, one official enrolled, parcel P registered.
fn chain_with_parcel() -> Result<(TestChain, Address), Box<dyn std::error::Error>> {
    let mut chain = TestChain::new();
    let authority = TestChain::account("registry-authority");
    let official = TestChain::account("official-1");
    let seller = TestChain::account("seller");
    let identity = chain.deploy(
        authority,
        hanok_contracts::IDENTITY,
        "identity",
        &json!({ "authority": authority }),
    )?;
    chain.execute(
        authority,
        identity,
        &json!({"enrol": {"address": official, "roles": ["official"]}}),
    )?;
    chain.execute(
        authority,
        identity,
        &json!({"enrol": {"address": seller, "roles": ["citizen"]}}),
    )?;
    let deal = hanok_testkit::vm::contract_address(&authority, "deal");
    let registry = chain.deploy(
        authority,
        hanok_contracts::REGISTRY,
        "registry",
        &json!({"identity": identity, "deal": deal,
                "policy": {"threshold": 1, "officials": [official]}}),
    )?;
    chain.next_block();
    chain.execute(
        official,
        registry,
        &json!({"register_parcel": {
            "parcel_id": PARCEL, "lot_number": "대치동 123",
            "address": "서울특별시 강남구 대치동 123", "area_m2_hundredths": 8_497,
            "land_use": "residential", "owners": [{"owner": seller, "share_bps": 10_000}],
        }}),
    )?;
    chain.next_block();
    Ok((chain, registry))
}

#[test]
fn contract_state_key_equals_the_vms() {
    let a = Address([0x42; 20]);
    for key in [&b""[..], b"k", &parcel_storage_key("P")] {
        assert_eq!(
            contract_state_key(&a, key),
            hanok_vm::state::keys::storage(&a, key)
        );
    }
}

#[test]
fn parcel_key_is_where_the_registry_stores_the_parcel() -> TestResult {
    let (chain, registry) = chain_with_parcel()?;
    let dump = chain.dump();
    let stored = dump
        .get(&parcel_state_key(&registry, PARCEL))
        .ok_or("no state at the computed parcel key")?;
    let parcel: Value = serde_json::from_slice(stored)?;
    assert_eq!(parcel["parcel_id"], PARCEL);
    // The stored bytes are what the registry's `parcel` query reads.
    let queried: Value = chain.query(registry, &json!({"parcel": {"parcel_id": PARCEL}}))?;
    assert_eq!(queried["owners"], parcel["owners"]);
    // A tuple-keyed map too: history (parcel id, seq 0) -> the `registered` entry.
    let storage = chain.contract_storage(&registry);
    let first = MapKey::new("history").str(PARCEL).u64(0).into_bytes();
    let second = MapKey::new("history").str(PARCEL).u64(1).into_bytes();
    let entry = storage
        .get(&first)
        .or_else(|| storage.get(&second))
        .ok_or("no history entry at the computed key")?;
    assert!(String::from_utf8_lossy(entry).contains("registered"));
    Ok(())
}

#[test]
fn proofs_from_a_real_tree_check_for_inclusion_and_absence() -> TestResult {
    let (chain, registry) = chain_with_parcel()?;
    let writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = chain
        .dump()
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    let mut tree = SparseMerkleTree::temporary()?;
    let root = tree.apply(&writes)?.0;

    // Inclusion.
    let key = parcel_state_key(&registry, PARCEL);
    let (value, proof) = tree.get_with_proof(&key)?;
    let value = value.ok_or("parcel missing from the tree")?;
    let proof = proof.to_bytes();
    verify_title(&root, &registry, PARCEL, Some(&value), &proof)?;
    verify_state(&root, &key, Some(&value), &proof)?;

    // Absence of an unregistered parcel.
    let (none, absent) = tree.get_with_proof(&parcel_state_key(&registry, "no-such-parcel"))?;
    assert!(none.is_none());
    verify_title(&root, &registry, "no-such-parcel", None, &absent.to_bytes())?;

    // Tampering fails: another value, another parcel, absence of a present one, another root,
    // another registry, flipped proof bytes.
    let mut forged = value.clone();
    forged.extend_from_slice(b" ");
    let invalid = |r: hanok_client::Result<()>| matches!(r, Err(ClientError::ProofInvalid(_)));
    assert!(invalid(verify_title(
        &root,
        &registry,
        PARCEL,
        Some(&forged),
        &proof
    )));
    assert!(invalid(verify_title(
        &root,
        &registry,
        "other",
        Some(&value),
        &proof
    )));
    assert!(invalid(verify_title(
        &root, &registry, PARCEL, None, &proof
    )));
    assert!(invalid(verify_title(
        &[7; 32],
        &registry,
        PARCEL,
        Some(&value),
        &proof
    )));
    assert!(invalid(verify_title(
        &root,
        &Address([1; 20]),
        PARCEL,
        Some(&value),
        &proof
    )));
    assert!(invalid(verify_title(
        &root[..31],
        &registry,
        PARCEL,
        Some(&value),
        &proof
    )));
    if proof.len() > 2 + 32 {
        let mut bad = proof.clone();
        bad[3] ^= 1;
        assert!(invalid(verify_title(
            &root,
            &registry,
            PARCEL,
            Some(&value),
            &bad
        )));
    }
    assert!(invalid(verify_title(
        &root,
        &registry,
        PARCEL,
        Some(&value),
        &proof[..proof.len() - 1]
    )));

    // The same proof as a portable TitleProof, through JSON.
    let header = v1::BlockHeader {
        chain_id: "hanok-test".into(),
        height: chain.block().height,
        state_root: root.to_vec(),
        ..Default::default()
    };
    let title = TitleProof::new(registry, PARCEL, &header, &[], Some(value), proof);
    let checked = TitleProof::from_json(&title.to_json()?)?.verify()?;
    assert_eq!(checked.parcel.ok_or("no parcel")?.parcel_id, PARCEL);
    assert!(checked.signed_by.is_none());
    Ok(())
}
