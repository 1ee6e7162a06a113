//! Unit tests of keys, did:key and the transaction checks.

use super::*;
use hanok_proto::v1;
use prost::Message;

const CHAIN: &str = "hanok-test-1";

fn body(key: &SecretKey) -> v1::TxBody {
    v1::TxBody {
        chain_id: CHAIN.into(),
        sender: key.address().0.to_vec(),
        sender_pubkey: key.public_key().to_bytes().to_vec(),
        nonce: 0,
        expiry_height: 10,
        gas_limit: 100_000,
        calls: vec![v1::Call {
            kind: Some(v1::call::Kind::Execute(v1::Execute {
                contract: vec![1; 20],
                msg: b"{}".to_vec(),
            })),
        }],
        memo: String::new(),
    }
}

fn check_default(raw: &[u8]) -> Result<CheckedTx> {
    CheckedTx::check(raw, CHAIN, &TxLimits::default())
}

fn signed_bytes(key: &SecretKey, b: &v1::TxBody) -> Vec<u8> {
    sign_body(key, b).encode_to_vec()
}

#[test]
fn valid_tx_passes_and_exposes_its_fields() -> Result<()> {
    let key = SecretKey::from_seed(b"alice");
    let raw = signed_bytes(&key, &body(&key));
    let tx = check_default(&raw)?;
    assert_eq!(tx.sender(), key.address());
    assert_eq!(tx.gas_limit(), 100_000);
    assert_eq!(tx.calls().len(), 1);
    assert_eq!(tx.hash(), Hash::sha256(&raw));
    assert_eq!(tx.to_signed().encode_to_vec(), raw);
    Ok(())
}

#[test]
fn signing_is_deterministic_and_low_s() {
    let key = SecretKey::from_seed(b"alice");
    let h = Hash::sha256(b"msg");
    let a = key.sign_prehash(&h);
    assert_eq!(a, key.sign_prehash(&h));
    assert_eq!(key.public_key().verify_prehash(&h, &a), Ok(()));
}

#[test]
fn wrong_signature_is_bad_signature() {
    let key = SecretKey::from_seed(b"alice");
    let mut signed = sign_body(&key, &body(&key));
    let other = SecretKey::from_seed(b"mallory");
    signed.signature = other.sign_prehash(&Hash::sha256(&signed.body)).to_vec();
    assert_eq!(
        check_default(&signed.encode_to_vec()),
        Err(TxError::BadSignature)
    );
}

#[test]
fn tampered_body_is_bad_signature() {
    let key = SecretKey::from_seed(b"alice");
    let signed = sign_body(&key, &body(&key));
    let mut b = body(&key);
    b.gas_limit = 200_000;
    let forged = v1::SignedTx {
        body: b.encode_to_vec(),
        signature: signed.signature,
    };
    assert_eq!(
        check_default(&forged.encode_to_vec()),
        Err(TxError::BadSignature)
    );
}

#[test]
fn high_s_is_refused_with_its_own_error() -> std::result::Result<(), k256::ecdsa::Error> {
    let key = SecretKey::from_seed(b"alice");
    let mut signed = sign_body(&key, &body(&key));
    let sig = k256::ecdsa::Signature::from_slice(&signed.signature)?;
    let (r, s) = sig.split_scalars();
    let high = k256::ecdsa::Signature::from_scalars(r, -s)?;
    signed.signature = high.to_bytes().to_vec();
    assert_eq!(check_default(&signed.encode_to_vec()), Err(TxError::HighS));
    Ok(())
}

#[test]
fn wrong_chain_is_refused() {
    let key = SecretKey::from_seed(b"alice");
    let mut b = body(&key);
    b.chain_id = "other-chain".into();
    assert!(matches!(
        check_default(&signed_bytes(&key, &b)),
        Err(TxError::WrongChain { .. })
    ));
}

#[test]
fn sender_not_matching_pubkey_is_refused() {
    let key = SecretKey::from_seed(b"alice");
    let mut b = body(&key);
    b.sender = SecretKey::from_seed(b"bob").address().0.to_vec();
    assert!(matches!(
        check_default(&signed_bytes(&key, &b)),
        Err(TxError::SenderMismatch { .. })
    ));
}

#[test]
fn garbage_bytes_are_malformed() {
    assert!(matches!(
        check_default(&[0xff, 0xff, 0xff, 0x01]),
        Err(TxError::Malformed(_))
    ));
    let not_a_body = v1::SignedTx {
        body: vec![0xff; 5],
        signature: vec![0; 64],
    };
    assert!(matches!(
        check_default(&not_a_body.encode_to_vec()),
        Err(TxError::MalformedBody(_))
    ));
}

#[test]
fn oversize_advice_fits_what_the_transaction_carries() {
    let key = SecretKey::from_seed(b"alice");
    let upload = |n: usize| v1::Call {
        kind: Some(v1::call::Kind::Upload(v1::Upload { wasm: vec![0; n] })),
    };
    let limits = TxLimits {
        max_tx_bytes: 2_000,
        ..TxLimits::default()
    };
    let sized = |calls: Vec<v1::Call>| {
        let mut b = body(&key);
        b.calls = calls;
        signed_bytes(&key, &b)
    };
    // One module that does not fit: no advice to split, the module is named.
    let one = sized(vec![upload(3_000)]);
    let err = CheckedTx::check(&one, CHAIN, &limits).map(|_| ());
    assert!(
        matches!(err, Err(TxError::TooLargeUpload { module: 3_000, .. })),
        "{err:?}"
    );
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(!text.contains("split the calls"), "{text}");
    assert!(text.contains("cannot be split"), "{text}");
    // Several modules that each fit: split them.
    let many = sized(vec![upload(900), upload(900), upload(900)]);
    assert!(matches!(
        CheckedTx::check(&many, CHAIN, &limits),
        Err(TxError::TooLargeCalls { calls: 3, .. })
    ));
    // The same through `check_signed` (a decoded SignedTx, as the node receives it).
    let signed = v1::SignedTx::decode(one.as_slice()).expect("decodes");
    assert!(matches!(
        CheckedTx::check_signed(signed, CHAIN, &limits),
        Err(TxError::TooLargeUpload { module: 3_000, .. })
    ));
}

#[test]
fn oversize_garbage_is_refused_before_decoding() {
    let raw = vec![0u8; 1000];
    assert_eq!(
        check(&raw, CHAIN, 999).map(|_| ()),
        Err(TxError::TooLarge {
            size: 1000,
            limit: 999
        })
    );
}

#[test]
fn short_signature_and_bad_key_are_refused() {
    let key = SecretKey::from_seed(b"alice");
    let mut signed = sign_body(&key, &body(&key));
    signed.signature.truncate(63);
    assert_eq!(
        check_default(&signed.encode_to_vec()),
        Err(TxError::SignatureLength { len: 63 })
    );
    let mut b = body(&key);
    b.sender_pubkey = vec![4; 33];
    assert!(matches!(
        check_default(&signed_bytes(&key, &b)),
        Err(TxError::BadPublicKey { len: 33 })
    ));
}

#[test]
fn gas_and_call_bounds_are_enforced() {
    let key = SecretKey::from_seed(b"alice");
    let mut b = body(&key);
    b.gas_limit = 1;
    assert!(matches!(
        check_default(&signed_bytes(&key, &b)),
        Err(TxError::GasTooLow { .. })
    ));
    b.gas_limit = u64::MAX;
    assert!(matches!(
        check_default(&signed_bytes(&key, &b)),
        Err(TxError::GasTooHigh { .. })
    ));
    b.gas_limit = 100_000;
    b.calls.clear();
    assert_eq!(
        check_default(&signed_bytes(&key, &b)),
        Err(TxError::NoCalls)
    );
    b.calls = vec![v1::Call { kind: None }; 65];
    assert!(matches!(
        check_default(&signed_bytes(&key, &b)),
        Err(TxError::TooManyCalls { count: 65, .. })
    ));
    b.calls = vec![v1::Call {
        kind: Some(v1::call::Kind::Execute(v1::Execute {
            contract: vec![1; 19],
            msg: vec![],
        })),
    }];
    assert!(matches!(
        check_default(&signed_bytes(&key, &b)),
        Err(TxError::BadCall { index: 0, .. })
    ));
}

#[test]
fn did_key_round_trips_and_has_the_secp256k1_prefix() -> std::result::Result<(), DidError> {
    let key = SecretKey::from_seed(b"alice").public_key();
    let did = key.did();
    // Every secp256k1 did:key starts with zQ3s (0xe7 0x01 prefix in base58btc).
    assert!(did.starts_with("did:key:zQ3s"), "{did}");
    assert_eq!(parse_did_key(&did)?, key);
    assert_eq!(parse_did_key("did:key:z6Mk"), Err(DidError::Codec));
    assert_eq!(parse_did_key("did:web:x"), Err(DidError::Prefix));
    Ok(())
}

#[test]
fn address_is_first_20_bytes_of_sha256_of_compressed_key() {
    let key = SecretKey::from_seed(b"alice").public_key();
    let h = Hash::sha256(&key.to_bytes());
    assert_eq!(key.address().0[..], h.0[..20]);
}

#[test]
fn cached_key_parsing_gives_the_same_keys_and_refuses_the_same_points() {
    for seed in [b"alice".as_slice(), b"bob", b"carol"] {
        let key = SecretKey::from_seed(seed).public_key();
        // The first parse may fill the cache, the second may hit it: both are the key.
        for _ in 0..2 {
            assert_eq!(PublicKey::from_compressed(&key.to_bytes()), Some(key));
        }
    }
    // x = 5 is not on secp256k1 (5^3 + 7 = 132 is not a square mod p): refused every time.
    let mut off_curve = [0u8; PUBKEY_LEN];
    off_curve[0] = 0x02;
    off_curve[32] = 5;
    for _ in 0..2 {
        assert_eq!(PublicKey::from_compressed(&off_curve), None);
    }
    let mut bad_prefix = SecretKey::from_seed(b"alice").public_key().to_bytes();
    bad_prefix[0] = 0x04;
    assert_eq!(PublicKey::from_compressed(&bad_prefix), None);
}

#[test]
fn the_shared_low_s_rule_agrees_with_k256() {
    use k256::ecdsa::Signature;
    // For many signatures and their high-S twins, `hanok_abi::secp256k1::is_low_s` (the one rule
    // the VM, the guest mock and this crate use) says what k256's own normalisation says.
    for i in 0u32..64 {
        let key = SecretKey::from_seed(&i.to_be_bytes());
        let low = key.sign_prehash(&Hash::sha256(&i.to_le_bytes()));
        let Ok(sig) = Signature::from_slice(&low) else {
            panic!("a signature we made does not parse");
        };
        let high: [u8; 64] = Signature::from_scalars(sig.r(), -*sig.s())
            .map(|s| s.to_bytes().into())
            .unwrap_or([0; 64]);
        for bytes in [low, high] {
            let Ok(parsed) = Signature::from_slice(&bytes) else {
                panic!("a twin does not parse");
            };
            assert_eq!(
                hanok_abi::secp256k1::is_low_s(&bytes),
                parsed.normalize_s().is_none()
            );
        }
        assert!(!hanok_abi::secp256k1::is_low_s(&high));
        assert_eq!(
            key.public_key()
                .verify_prehash(&Hash::sha256(&i.to_le_bytes()), &high),
            Err(SigError::HighS)
        );
    }
}

#[test]
fn dev_keys_come_from_their_seed() {
    assert_eq!(dev_seed("bank-a"), "hanok-dev/bank-a");
    assert_eq!(
        SecretKey::dev("bank-a").to_bytes(),
        SecretKey::from_seed(b"hanok-dev/bank-a").to_bytes()
    );
}
