//! Unit tests: signing, tx building, receipts, key layout and title proofs (no network).

use crate::proof::{contract_state_key, parcel_state_key, parcel_storage_key, MapKey};
use crate::{check_receipt, ClientError, SignedTx, Signer, TitleProof, TxBuilder};
use hanok_proof::{key_hash, leaf_hash, sha256, Proof, ProofLeaf};
use hanok_proto::v1;
use hanok_types::{Address, CheckedTx, Hash, SecretKey, SigError, TxError, TxLimits};
use prost::Message;

/// The secp256k1 group order, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// `n - s` for a 32-byte big-endian `s < n`: the high-S twin of a signature.
fn negate_s(s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = d.rem_euclid(256) as u8;
    }
    out
}

#[test]
fn signatures_are_low_s_and_verify_with_hanok_types() {
    let signer = Signer::from_dev_seed("bank-a");
    for i in 0..64u32 {
        let body = format!("body {i}").into_bytes();
        let sig = signer.sign(&body);
        let prehash = Hash::sha256(&body);
        assert_eq!(signer.public_key().verify_prehash(&prehash, &sig), Ok(()));
        // Its high-S twin is mathematically valid but refused, so ours was the low one.
        let mut high = sig;
        high[32..].copy_from_slice(&negate_s(&sig[32..]));
        assert_eq!(
            signer.public_key().verify_prehash(&prehash, &high),
            Err(SigError::HighS)
        );
    }
}

#[test]
fn signer_constructors_agree() -> crate::Result<()> {
    let a = Signer::from_dev_seed("official-1");
    let same = SecretKey::from_seed(b"official-1");
    assert_eq!(a.address(), same.address());
    let b = Signer::from_hex(&a.secret_hex())?;
    let c = Signer::from_hex(&format!("  0x{}\n", a.secret_hex()))?;
    assert_eq!(a.address(), b.address());
    assert_eq!(a.address(), c.address());
    assert_eq!(
        hanok_types::parse_did_key(&a.did()).map(|k| k.address()),
        Ok(a.address())
    );
    assert!(a.did().starts_with("did:key:z"));
    assert!(matches!(
        Signer::from_hex("abcd"),
        Err(ClientError::Invalid(_))
    ));
    assert!(matches!(
        Signer::from_hex("zz"),
        Err(ClientError::Invalid(_))
    ));
    assert!(matches!(
        Signer::from_bytes(&[0; 32]),
        Err(ClientError::Invalid(_))
    ));
    // Debug never shows the secret.
    assert!(!format!("{a:?}").contains(&a.secret_hex()));
    Ok(())
}

#[test]
fn built_tx_passes_the_node_checks_and_round_trips() -> crate::Result<()> {
    let signer = Signer::from_dev_seed("broker");
    let contract = Address([9; 20]);
    let msg = serde_json::json!({"open": {"parcel_id": "P", "price": "900000000"}});
    let tx = TxBuilder::new("hanok-dev-1")
        .nonce(7)
        .expiry_height(123)
        .gas_limit(2_000_000)
        .memo("deal 1")
        .execute(contract, &msg)?
        .instantiate(Hash([3; 32]), "krw", Some(contract), &serde_json::json!({}))?
        .upload(b"\0asm".to_vec())
        .sign(&signer)?;

    let bytes = tx.to_bytes();
    let back = SignedTx::from_bytes(&bytes)?;
    assert_eq!(back, tx);
    assert_eq!(back.body_bytes(), tx.body_bytes());

    let checked = CheckedTx::check(&bytes, "hanok-dev-1", &TxLimits::default())
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    assert_eq!(checked.sender(), signer.address());
    assert_eq!(checked.nonce(), 7);
    assert_eq!(checked.expiry_height(), 123);
    assert_eq!(checked.gas_limit(), 2_000_000);
    assert_eq!(checked.memo(), "deal 1");
    assert_eq!(checked.hash(), tx.hash());
    assert_eq!(checked.calls().len(), 3);
    assert_eq!(
        checked.calls()[0],
        hanok_types::Call::Execute {
            contract,
            msg: serde_json::to_vec(&msg).unwrap_or_default(),
        }
    );
    let body = tx.body()?;
    assert_eq!(body.sender_pubkey, signer.public_key_bytes().to_vec());

    // Bound to its chain.
    assert!(matches!(
        CheckedTx::check(&bytes, "hanok-other", &TxLimits::default()),
        Err(TxError::WrongChain { .. })
    ));
    // The signature covers the exact bytes: one flipped bit and it no longer verifies.
    let mut proto = tx.into_proto();
    if let Some(b) = proto.body.last_mut() {
        *b ^= 1;
    }
    assert!(CheckedTx::check(&proto.encode_to_vec(), "hanok-dev-1", &TxLimits::default()).is_err());
    Ok(())
}

#[test]
fn a_tx_without_calls_is_refused_before_signing() {
    let r = TxBuilder::new("c").sign(&Signer::from_dev_seed("x"));
    assert!(matches!(r, Err(ClientError::Invalid(_))));
}

#[test]
fn receipts_map_to_typed_errors() {
    let receipt = |status: v1::TxStatus, error: &str| v1::Receipt {
        tx_hash: vec![0xab; 32],
        status: status as i32,
        error: error.into(),
        failed_call: Some(0),
        ..Default::default()
    };
    assert!(check_receipt(receipt(v1::TxStatus::Ok, "")).is_ok());
    match check_receipt(receipt(v1::TxStatus::ContractError, "parcel P not found")) {
        Err(e @ ClientError::Contract { .. }) => {
            assert_eq!(e.contract_message(), Some("parcel P not found"));
        }
        other => panic!("expected a contract error, got {other:?}"),
    }
    assert!(matches!(
        check_receipt(receipt(v1::TxStatus::VmError, "out of gas")),
        Err(ClientError::Vm { .. })
    ));
    assert!(matches!(
        check_receipt(receipt(v1::TxStatus::Rejected, "expired")),
        Err(ClientError::Rejected { .. })
    ));
    let mut weird = receipt(v1::TxStatus::Ok, "");
    weird.status = 99;
    assert!(matches!(check_receipt(weird), Err(ClientError::Decode(_))));
}

#[test]
fn call_results_decode_or_say_why() {
    let r = v1::Receipt {
        results: vec![
            br#"{"lien_id": 2}"#.to_vec(),
            Vec::new(),
            b"not json".to_vec(),
        ],
        ..Default::default()
    };
    assert_eq!(
        crate::call_result(&r, 0).ok(),
        Some(serde_json::json!({"lien_id": 2}))
    );
    assert_eq!(
        crate::call_result(&r, 1).ok(),
        Some(serde_json::Value::Null)
    );
    assert!(matches!(
        crate::call_result(&r, 2),
        Err(ClientError::Decode(_))
    ));
    assert!(matches!(
        crate::call_result(&r, 3),
        Err(ClientError::Decode(_))
    ));
}

#[test]
fn storage_keys_follow_the_documented_layout() {
    let registry = Address([0x5a; 20]);
    assert_eq!(
        parcel_storage_key("P-1"),
        b"\x00\x07parcels\x00\x03P-1".to_vec()
    );
    let state = parcel_state_key(&registry, "P-1");
    assert_eq!(state[0], 0x01);
    assert_eq!(&state[1..21], &registry.0);
    assert_eq!(&state[21..], parcel_storage_key("P-1").as_slice());
    assert_eq!(contract_state_key(&registry, b""), state[..21].to_vec());
    let k = MapKey::new("balances").address(&registry).into_bytes();
    assert_eq!(&k[..10], b"\x00\x08balances");
    assert_eq!(&k[10..], &registry.0);
    assert_eq!(
        MapKey::new("deals").u64(1).u32(2).into_bytes(),
        b"\x00\x05deals\0\0\0\0\0\0\0\x01\0\0\0\x02".to_vec()
    );
}

/// The worked example of `docs/storage.md` ("State keys"): every row, from the dev seed, with
/// the client SDK. If this fails, the layout changed: update the table, it is what clients in
/// other languages follow.
#[test]
fn the_parcel_state_key_of_docs_storage_md() {
    let authority = Signer::dev("authority");
    assert_eq!(
        authority.secret_hex(),
        "2a2e107253bcac55f3a7894a00801fb2425b94a546ba99e5bc3622c80885b3a3"
    );
    assert_eq!(
        hex::encode(authority.public_key_bytes()),
        "03ed53435763842082b923a5195c4e6533e9f0074647e930d12ddb4f3870dfe823"
    );
    let auth = authority.address();
    assert_eq!(
        hex::encode(auth.0),
        "cfe18374fa43c222f17203c51fdbeac9a0a8c8ae"
    );
    let registry = hanok_types::layout::contract_address(&auth, "registry");
    assert_eq!(
        hex::encode(registry.0),
        "7f9f67c3c1684901fca00bc4beb13d0e88a2a5d4"
    );
    let id = "1168010300-1-0123-0000";
    assert_eq!(
        hex::encode(parcel_storage_key(id)),
        "000770617263656c730016313136383031303330302d312d303132332d30303030"
    );
    let state_key = parcel_state_key(&registry, id);
    assert_eq!(
        hex::encode(&state_key),
        "017f9f67c3c1684901fca00bc4beb13d0e88a2a5d4\
         000770617263656c730016313136383031303330302d312d303132332d30303030"
    );
    assert_eq!(
        key_hash(&state_key).to_hex(),
        "1cb4c9d009a231953e0bfff2291665bb8ff7579f2d469d520eb901310ca56a86"
    );
}

/// A one-leaf state holding parcel `P-1`, and the title proof of it in a signed header.
fn one_leaf_title(proposer: &Signer) -> (TitleProof, Vec<u8>) {
    let registry = Address([0x5a; 20]);
    // As the registry stores it.
    let value = br#"{"parcel_id":"P-1","lot_number":"","address":"A","area_m2_hundredths":1,"land_use":"residential","owners":[],"encumbrances":[],"frozen":false,"registered_height":1,"history_len":1,"last_rank":0,"past_encumbrances":0}"#.to_vec();
    let key = parcel_state_key(&registry, "P-1");
    let leaf = ProofLeaf {
        key_hash: key_hash(&key),
        value_hash: sha256(&value),
    };
    let root = leaf_hash(&leaf.key_hash, &leaf.value_hash);
    let proof = Proof {
        siblings: vec![],
        leaf: Some(leaf),
    };
    let header = v1::BlockHeader {
        chain_id: "hanok-dev-1".into(),
        height: 42,
        time: 1_800_000_000,
        state_root: root.0.to_vec(),
        proposer_pubkey: proposer.public_key_bytes().to_vec(),
        ..Default::default()
    };
    let sig = proposer.sign(&header.encode_to_vec());
    (
        TitleProof::new(
            registry,
            "P-1",
            &header,
            &sig,
            Some(value.clone()),
            proof.to_bytes(),
        ),
        value,
    )
}

#[test]
fn title_proof_checks_offline_after_a_json_round_trip() -> crate::Result<()> {
    let proposer = Signer::from_dev_seed("registry-authority");
    let (title, value) = one_leaf_title(&proposer);
    let json = title.to_json()?;
    let back = TitleProof::from_json(&json)?;
    assert_eq!(back, title);
    let v = back.verify_signed_by(proposer.public_key())?;
    assert_eq!(v.height, 42);
    assert_eq!(v.parcel, serde_json::from_slice(&value).ok());
    assert_eq!(v.parcel.map(|p| p.parcel_id), Some("P-1".to_string()));
    back.verify_against_header(&v.header_hash)?;
    // Another proposer, another header hash: refused.
    let other = Signer::from_dev_seed("someone");
    assert!(matches!(
        back.verify_signed_by(other.public_key()),
        Err(ClientError::ProofInvalid(_))
    ));
    assert!(matches!(
        back.verify_against_header(&Hash([1; 32])),
        Err(ClientError::ProofInvalid(_))
    ));
    Ok(())
}

#[test]
fn tampered_title_proofs_fail() {
    let proposer = Signer::from_dev_seed("registry-authority");
    let (title, _) = one_leaf_title(&proposer);

    let mut t = title.clone();
    t.value = Some(hex::encode(br#"{"parcel_id":"P-1","owners":["me"]}"#));
    assert!(matches!(t.verify(), Err(ClientError::ProofInvalid(_))));

    let mut t = title.clone();
    t.parcel_id = "P-2".into();
    assert!(matches!(t.verify(), Err(ClientError::ProofInvalid(_))));

    let mut t = title.clone();
    t.value = None; // claim absence of a present parcel
    assert!(matches!(t.verify(), Err(ClientError::ProofInvalid(_))));

    let mut t = title.clone();
    t.height = 43;
    assert!(matches!(t.verify(), Err(ClientError::ProofInvalid(_))));

    let mut t = title.clone();
    let mut sig = hex::decode(&t.block_signature).unwrap_or_default();
    sig[5] ^= 1;
    t.block_signature = hex::encode(sig);
    assert!(matches!(t.verify(), Err(ClientError::ProofInvalid(_))));

    let mut t = title.clone();
    t.proof = "zz".into();
    assert!(matches!(t.verify(), Err(ClientError::Decode(_))));

    let mut t = title;
    t.format = "something-else".into();
    assert!(matches!(t.verify(), Err(ClientError::Decode(_))));
}

#[test]
fn signed_terms_read_from_a_deal_and_sent_as_the_contract_expects() -> crate::Result<()> {
    use crate::messages::deal::{Deal, ExecuteMsg};
    use crate::{Amount, SignedTerms};
    let bank = Address([0xbb; 20]);
    let party = Address([0x11; 20]);
    // A deal as the `deal` query answers it.
    let deal = serde_json::json!({
        "deal_id": 1, "parcel_id": "P", "seller": party, "buyer": party, "broker": party,
        "price": "900000000", "deadline": 1_800_000_000u64, "status": "funded",
        "lender": {"bank": bank, "max_amount": "700000000"},
        "mortgage": {"bank": bank, "amount": "600000000"},
        "signatures": [], "approvals": [], "rejected_by": null, "opened_height": 3,
        "settled_height": null,
    });
    let deal: Deal = serde_json::from_value(deal)
        .map_err(|e| ClientError::Decode(format!("deal answer: {e}")))?;
    let terms = deal.terms();
    assert_eq!(
        terms,
        SignedTerms {
            price: Amount(900_000_000),
            deadline: 1_800_000_000,
            lender: Some(bank),
            mortgage_amount: Some(Amount(600_000_000)),
            schedule: None,
        }
    );
    // The `sign` message carries them with amounts as decimal strings.
    let sign = serde_json::to_value(ExecuteMsg::Sign { deal_id: 1, terms })
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    assert_eq!(
        sign,
        serde_json::json!({"sign": {"deal_id": 1, "terms": {"price": "900000000",
            "deadline": 1_800_000_000u64, "lender": bank, "mortgage_amount": "600000000"}}})
    );
    // A cash sale: no lender, no mortgage, both null.
    let cash = SignedTerms {
        lender: None,
        mortgage_amount: None,
        ..terms
    };
    let v = serde_json::to_value(cash).map_err(|e| ClientError::Invalid(e.to_string()))?;
    assert_eq!(
        (&v["lender"], &v["mortgage_amount"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    Ok(())
}

#[test]
fn the_review_console_messages_are_the_contract_json() -> crate::Result<()> {
    use crate::messages::deal::{DealsResponse, ExecuteMsg, QueryMsg};
    fn json(v: &impl serde::Serialize) -> crate::Result<serde_json::Value> {
        serde_json::to_value(v).map_err(|e| ClientError::Invalid(e.to_string()))
    }
    let reject = ExecuteMsg::Reject {
        deal_id: 7,
        reason: "Unpaid acquisition tax.".into(),
    };
    assert_eq!(
        json(&reject)?,
        serde_json::json!({"reject": {"deal_id": 7, "reason": "Unpaid acquisition tax."}})
    );
    let queue = QueryMsg::AwaitingApproval {
        start_after: Some(7),
        limit: None,
    };
    assert_eq!(
        json(&queue)?,
        serde_json::json!({"awaiting_approval": {"start_after": 7, "limit": null}})
    );
    // The answer's deals are `deal` answers; one written before `rejection_reason` existed
    // reads it as absent.
    let party = Address([0x11; 20]);
    let answer = serde_json::json!({"deals": [{
        "deal_id": 7, "parcel_id": "P", "seller": party, "buyer": party, "broker": party,
        "price": "1", "deadline": 1_800_000_000u64, "status": "signed", "mortgage": null,
        "signatures": [party], "approvals": [], "rejected_by": null, "opened_height": 3,
        "settled_height": null,
    }]});
    let page: DealsResponse = serde_json::from_value(answer)
        .map_err(|e| ClientError::Decode(format!("awaiting_approval answer: {e}")))?;
    assert_eq!(page.deals.len(), 1);
    assert_eq!(page.deals[0].rejection_reason, None);
    Ok(())
}
