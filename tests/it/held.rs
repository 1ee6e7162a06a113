//! What held before issue 15 and must keep holding: contracts standing in for the people or
//! the contracts that may send a privileged message, and co-owners posing as sole sellers.
//! (Refunds and settlements twice: `failures.rs` and `authorization.rs`.)

use crate::refused;
use hanok_abi::Address;
use hanok_acceptance::{DealStatus, Story, Terms, EOK};
use hanok_testkit::Call;
use serde_json::{json, Value};

/// A contract that forwards its input: the first 20 bytes name the callee, the rest is the
/// message; it returns the callee's result verbatim (so the callee's refusal is its refusal).
/// Written in WAT because it must do nothing but forward, which no SDK contract would.
const FORWARDER: &str = r#"(module
  (import "hanok" "input" (func $input (result i32)))
  (import "hanok" "register_read" (func $register_read (param i32)))
  (import "hanok" "call" (func $call (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "\00")
  (func (export "instantiate") (result i64) (i64.const 1))
  (func (export "query") (result i64) (i64.const 1))
  (func (export "execute") (result i64)
    (local $len i32)
    (local $out i32)
    (local.set $len (call $input))
    (call $register_read (i32.const 1024))
    (local.set $out
      (call $call (i32.const 1024) (i32.const 1044) (i32.sub (local.get $len) (i32.const 20))))
    (call $register_read (i32.const 65536))
    (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.extend_i32_u (local.get $out)))))"#;

/// `signer` asks the forwarder `proxy` to send `msg` to `target`.
fn via(s: &mut Story, signer: Address, proxy: Address, target: Address, msg: &Value) -> String {
    let mut input = target.0.to_vec();
    input.extend_from_slice(msg.to_string().as_bytes());
    let r = s.chain.execute_calls(
        signer,
        &[Call {
            contract: proxy,
            msg: input,
        }],
    );
    s.chain.next_block();
    refused(r, &format!("{msg} forwarded by a proxy for {signer}"))
}

#[test]
fn a_proxy_contract_cannot_forward_privileged_messages() {
    let mut s = Story::up_to_approval(Terms::default()).expect("story");
    let wasm = wat::parse_str(FORWARDER).expect("forwarder wasm");
    let proxy = s
        .chain
        .deploy(s.actors.stranger, &wasm, "forwarder", &json!({}))
        .expect("anyone may deploy the forwarder");
    let id = s.deal_id().expect("id");
    let a = s.actors.clone();
    let (deal, escrow, registry, krw) = (
        s.system.deal,
        s.system.escrow,
        s.system.registry,
        s.system.krw,
    );
    let pid = s.terms.parcel_id.clone();
    let price = (9 * EOK).to_string();
    // Each privileged message, sent through the proxy by the one person (or a stranger, for a
    // contract's privilege) who could send it directly: the callee sees the proxy, not them.
    let cases: Vec<(Address, Address, Value, &str)> = vec![
        (
            a.stranger,
            deal,
            json!({"funded": {"deal_id": id, "funder": a.buyer, "amount": price}}),
            "unauthorized: only the escrow contract may report funding",
        ),
        (
            a.stranger,
            escrow,
            json!({"receive": {"from": a.buyer, "amount": price, "msg": {"fund": {"deal_id": id}}}}),
            "unauthorized: only the token contract may deposit",
        ),
        (
            a.stranger,
            escrow,
            json!({"release": {"deal_id": id, "to": a.stranger, "amount": price}}),
            "unauthorized: only the deal contract may release",
        ),
        (
            a.buyer,
            escrow,
            json!({"refund": {"deal_id": id}}),
            "unauthorized: only the deal contract may refund",
        ),
        (
            a.stranger,
            registry,
            json!({"transfer_title": {"parcel_id": pid, "to": a.stranger}}),
            "unauthorized: only the deal contract may transfer a title",
        ),
        (
            a.officials[0],
            registry,
            json!({"record_lien": {"parcel_id": pid, "holder": a.bank_a, "amount": "1"}}),
            "unauthorized: only an official may record a lien",
        ),
        (
            a.officials[0],
            registry,
            json!({"freeze": {"parcel_id": pid, "court_order_hash": "ab".repeat(32)}}),
            "unauthorized: only an official may freeze a title",
        ),
        (
            a.officials[2],
            deal,
            json!({"approve": {"deal_id": id}}),
            "unauthorized: only an official may approve",
        ),
        (
            a.officials[2],
            deal,
            json!({"settle": {"deal_id": id}}),
            "unauthorized: only the broker, seller, buyer or a policy official may settle",
        ),
        (
            a.seller,
            deal,
            json!({"accept": {"deal_id": id}}),
            "unauthorized: only the seller may accept deal 1",
        ),
        (
            a.bank_b,
            deal,
            json!({"attach_mortgage": {"deal_id": id, "amount": "1"}}),
            "unauthorized: only the lender deal 1 names may attach its mortgage",
        ),
        (
            a.buyer,
            deal,
            json!({"refund": {"deal_id": id}}),
            "unauthorized: only the buyer may reclaim the escrow",
        ),
        (
            a.bank_b,
            krw,
            json!({"mint": {"to": a.stranger, "amount": "1"}}),
            "unauthorized: only an enrolled bank may mint",
        ),
    ];
    let before = s.chain.dump();
    for (signer, target, msg, expected) in &cases {
        assert_eq!(
            via(&mut s, *signer, proxy, *target, msg),
            *expected,
            "{msg}"
        );
    }
    assert_eq!(s.chain.dump(), before, "nothing changed");
    // The forwarder does forward: a harmless message goes through.
    let mut input = krw.0.to_vec();
    input.extend_from_slice(
        br#"{"transfer": {"to": "0x0000000000000000000000000000000000000001", "amount": "1"}}"#,
    );
    let err = s
        .chain
        .execute_calls(
            a.stranger,
            &[Call {
                contract: proxy,
                msg: input,
            }],
        )
        .expect_err("the proxy holds no tokens");
    assert!(
        err.contract_message()
            .is_some_and(|m| m.starts_with("insufficient balance")),
        "{err}"
    );
}

#[test]
fn a_fake_token_cannot_fund_the_real_escrow() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    s.open_deal().expect("open");
    let (broker, buyer, id) = (s.actors.broker, s.actors.buyer, s.deal_id().expect("id"));
    // The token code itself, on an identity contract the attacker controls, where it is a bank.
    let fake_identity = s
        .chain
        .deploy(
            broker,
            hanok_contracts::IDENTITY,
            "my-identity",
            &json!({"authority": broker}),
        )
        .expect("identity");
    let fake_krw = s
        .chain
        .deploy(
            broker,
            hanok_contracts::KRW,
            "my-krw",
            &json!({"identity": fake_identity}),
        )
        .expect("token");
    for who in [broker, buyer] {
        let roles = if who == broker {
            json!(["authority", "bank"])
        } else {
            json!(["citizen"])
        };
        s.tx(
            broker,
            fake_identity,
            json!({"enrol": {"address": who, "roles": roles}}),
        )
        .expect("enrol in the fake identity");
    }
    s.tx(
        broker,
        fake_krw,
        json!({"mint": {"to": buyer, "amount": (9 * EOK).to_string()}}),
    )
    .expect("fake money");
    let send = json!({"send": {"contract": s.system.escrow, "amount": (9 * EOK).to_string(),
        "msg": {"fund": {"deal_id": id}}}});
    let msg = refused(s.tx(buyer, fake_krw, send), "funding with a fake token");
    assert_eq!(msg, "unauthorized: only the token contract may deposit");
    assert_eq!(s.deal().expect("deal").status, DealStatus::Open);
    assert_eq!(s.balance(s.system.escrow).expect("escrow"), 0);
}

#[test]
fn a_second_escrow_cannot_report_funding() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    s.mint_to_buyer().expect("mint");
    s.open_deal().expect("open");
    let id = s.deal_id().expect("id");
    // The real escrow code, wired to the real token and deal contracts, under another label.
    let other = s
        .chain
        .deploy(
            s.actors.broker,
            hanok_contracts::ESCROW,
            "escrow-2",
            &json!({"token": s.system.krw, "deal": s.system.deal}),
        )
        .expect("second escrow");
    let msg = refused(
        s.tx(
            s.actors.buyer,
            s.system.krw,
            json!({"send": {"contract": other, "amount": (9 * EOK).to_string(),
                "msg": {"fund": {"deal_id": id}}}}),
        ),
        "funding through a second escrow",
    );
    assert_eq!(
        msg,
        "unauthorized: only the escrow contract may report funding"
    );
    assert_eq!(s.deal().expect("deal").status, DealStatus::Open);
    assert_eq!(s.balance(s.actors.buyer).expect("buyer"), 9 * EOK);
    assert_eq!(s.balance(other).expect("second escrow"), 0);
}

#[test]
fn co_owners_cannot_pose_as_sole_sellers() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    let a = s.actors.clone();
    let pid = "1168010300-1-0456-0000";
    s.tx(
        a.officials[0],
        s.system.registry,
        json!({"register_parcel": {"parcel_id": pid, "lot_number": "대치동 456",
            "address": "서울특별시 강남구 대치동 456", "area_m2_hundredths": 8_497,
            "land_use": "residential",
            "owners": [{"owner": a.seller, "share_bps": 5_000}, {"owner": a.stranger, "share_bps": 5_000}]}}),
    )
    .expect("a co-owned parcel");
    let deadline = s.chain.block().time + 3600;
    for co_owner in [a.seller, a.stranger] {
        let msg = refused(
            s.tx(
                a.broker,
                s.system.deal,
                json!({"open": {"parcel_id": pid, "seller": co_owner, "buyer": a.buyer,
                    "price": (9 * EOK).to_string(), "deadline": deadline}}),
            ),
            "a co-owner selling alone",
        );
        assert_eq!(
            msg,
            format!("seller {co_owner} is not the sole owner of parcel {pid}")
        );
    }
}
