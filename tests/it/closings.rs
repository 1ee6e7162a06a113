//! Issue 14 on the real contracts as wasm: payoff statements, the transaction report, co-owned
//! parcels, staged payments and the acquisition tax with the first-home relief claimed once
//! (the native tests in `contracts/deal` and `contracts/tax` cover the same rules in detail).

use crate::refused;
use hanok_acceptance::{DealStatus, Story, Terms, EOK};
use serde_json::{json, Value};

fn query(s: &Story, msg: Value) -> Value {
    s.chain
        .query::<Value, _>(s.system.deal, &msg)
        .unwrap_or_else(|e| panic!("{msg}: {e}"))
}

#[test]
fn settlement_pays_each_bank_its_stated_payoff_and_files_the_report() {
    let terms = Terms {
        payoff_a: Some(25 * EOK / 10),
        ..Terms::default()
    };
    let mut s = Story::up_to_approval(terms).expect("story");
    let a = s.actors.clone();
    let id = s.deal_id().expect("id");
    // Filed when both parties signed, before any approval or settlement.
    let filed = query(&s, json!({"report": {"deal_id": id}}));
    assert_eq!(filed["status"], "contracted", "{filed}");
    s.settle().expect("settle");
    assert_eq!(s.balance(a.bank_a).expect("balance"), 25 * EOK / 10);
    assert_eq!(s.balance(a.seller).expect("balance"), 65 * EOK / 10);
    let report = query(&s, json!({"report": {"deal_id": id}}));
    assert_eq!(report["status"], "settled", "{report}");
    assert_eq!(report["price"], "900000000");
    assert_eq!(report["seller"], json!(a.seller));
    assert_eq!(report["buyer"], json!(a.buyer));
    assert_eq!(report["contract_time"], filed["contract_time"]);
    assert!(report["settled_height"].is_u64(), "{report}");
    let listed = query(&s, json!({"reports": {}}));
    assert_eq!(listed["reports"], json!([report]));
}

#[test]
fn a_lapsed_or_missing_payoff_statement_stops_settlement_and_names_the_bank() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    let a = s.actors.clone();
    s.register_parcel_with_lien().expect("parcel");
    // Bank B's second lien, with no statement.
    let registry = s.system.registry;
    let parcel_id = s.terms.parcel_id.clone();
    s.tx(
        a.officials[1],
        registry,
        json!({"record_lien": {"parcel_id": parcel_id, "holder": a.bank_b, "amount": "100000000"}}),
    )
    .expect("second lien");
    s.mint_to_buyer().expect("mint");
    s.open_deal().expect("open");
    s.fund().expect("fund");
    s.sign_both().expect("sign");
    assert_eq!(s.approve(2).expect("approve").status, DealStatus::Approved);
    let r = s.settle();
    let msg = refused(r, "a settlement with a lien lacking a payoff statement");
    assert!(
        msg.starts_with(&format!("no payoff statement from bank {}", a.bank_b)),
        "{msg}"
    );
    // Bank B states its debt, but only for a minute; the closing comes later.
    let until = s.chain.block().time + 60;
    s.tx(
        a.bank_b,
        registry,
        json!({"file_payoff": {"parcel_id": parcel_id, "lien_id": 2, "amount": "40000000", "valid_until": until}}),
    )
    .expect("statement");
    s.chain.advance_time(120);
    let msg = refused(s.settle(), "a settlement on a lapsed payoff statement");
    assert!(
        msg.contains(&format!("the payoff statement of bank {}", a.bank_b))
            && msg.contains("expired"),
        "{msg}"
    );
    let until = s.chain.block().time + 3600;
    s.tx(
        a.bank_b,
        registry,
        json!({"file_payoff": {"parcel_id": parcel_id, "lien_id": 2, "amount": "40000000", "valid_until": until}}),
    )
    .expect("a fresh statement");
    s.settle().expect("settles");
    assert_eq!(s.balance(a.bank_a).expect("balance"), 3 * EOK);
    assert_eq!(s.balance(a.bank_b).expect("balance"), 4 * EOK / 10);
    assert_eq!(
        s.balance(a.seller).expect("balance"),
        9 * EOK - 3 * EOK - 4 * EOK / 10
    );
}

/// Registers `id` owned by the seller (40 %) and the stranger, standing for the seller's
/// spouse (60 %), with no encumbrance; mints the price to the buyer.
fn co_owned(s: &mut Story, id: &str) {
    let a = s.actors.clone();
    let registry = s.system.registry;
    s.tx(
        a.officials[0],
        registry,
        json!({"register_parcel": {
            "parcel_id": id,
            "lot_number": "잠실동 19",
            "address": "서울특별시 송파구 잠실동 19",
            "area_m2_hundredths": 11_490,
            "land_use": "residential",
            "owners": [{"owner": a.seller, "share_bps": 4_000}, {"owner": a.stranger, "share_bps": 6_000}],
        }}),
    )
    .expect("register");
    s.mint_to_buyer().expect("mint");
}

/// Opens (with `open`, which names the buyer), accepts (each seller), funds (the price and any
/// acquisition tax the deal quoted), signs (each party) and approves a deal; returns its id.
fn close_to_approval(s: &mut Story, open: Value, sellers: &[hanok_abi::Address]) -> u64 {
    let a = s.actors.clone();
    let deal = s.system.deal;
    let r = s.tx(a.broker, deal, open).expect("open");
    let id = r.json::<Value>().expect("json")["deal_id"]
        .as_u64()
        .expect("deal id");
    for seller in sellers {
        s.tx(*seller, deal, json!({"accept": {"deal_id": id}}))
            .expect("accept");
    }
    let accepted: hanok_acceptance::Deal =
        serde_json::from_value(query(s, json!({"deal": {"deal_id": id}}))).expect("deal");
    let (buyer, due) = (accepted.buyer, accepted.total_due().expect("due"));
    let krw = s.system.krw;
    s.tx(
        buyer,
        krw,
        json!({"send": {"contract": s.system.escrow, "amount": due.to_string(), "msg": {"fund": {"deal_id": id}}}}),
    )
    .expect("fund");
    let terms = query(s, json!({"deal": {"deal_id": id}}));
    let signed = json!({
        "price": terms["price"], "deadline": terms["deadline"],
        "lender": null, "mortgage_amount": null,
    });
    for who in sellers.iter().chain([&buyer]) {
        s.tx(
            *who,
            deal,
            json!({"sign": {"deal_id": id, "terms": signed}}),
        )
        .expect("sign");
    }
    for o in &a.officials[..2] {
        s.tx(*o, deal, json!({"approve": {"deal_id": id}}))
            .expect("approve");
    }
    id
}

#[test]
fn spouses_sell_their_flat_whole_and_each_is_paid_by_share() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    let a = s.actors.clone();
    co_owned(&mut s, "CO-1");
    let deadline = s.chain.block().time + 30 * 24 * 3600;
    let open = json!({"open": {
        "parcel_id": "CO-1", "seller": a.seller, "buyer": a.buyer, "price": "900000000",
        "deadline": deadline, "co_sellers": [a.stranger],
    }});
    let id = close_to_approval(&mut s, open, &[a.seller, a.stranger]);
    let deal = s.system.deal;
    s.tx(a.broker, deal, json!({"settle": {"deal_id": id}}))
        .expect("settle");
    assert_eq!(s.balance(a.seller).expect("balance"), 36 * EOK / 10);
    assert_eq!(s.balance(a.stranger).expect("balance"), 54 * EOK / 10);
    let parcel: Value = s
        .chain
        .query(s.system.registry, &json!({"parcel": {"parcel_id": "CO-1"}}))
        .expect("parcel");
    assert_eq!(
        parcel["owners"],
        json!([{"owner": a.buyer, "share_bps": 10_000}])
    );
}

#[test]
fn one_spouse_sells_their_share_and_the_other_keeps_theirs() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    let a = s.actors.clone();
    co_owned(&mut s, "CO-2");
    let deadline = s.chain.block().time + 30 * 24 * 3600;
    let open = json!({"open": {
        "parcel_id": "CO-2", "seller": a.stranger, "buyer": a.buyer, "price": "900000000",
        "deadline": deadline, "share_sale": true,
    }});
    let id = close_to_approval(&mut s, open, &[a.stranger]);
    let deal = s.system.deal;
    s.tx(a.buyer, deal, json!({"settle": {"deal_id": id}}))
        .expect("settle");
    assert_eq!(s.balance(a.stranger).expect("balance"), 9 * EOK);
    assert_eq!(s.balance(a.seller).expect("balance"), 0);
    let parcel: Value = s
        .chain
        .query(s.system.registry, &json!({"parcel": {"parcel_id": "CO-2"}}))
        .expect("parcel");
    assert_eq!(
        parcel["owners"],
        json!([{"owner": a.seller, "share_bps": 4_000}, {"owner": a.buyer, "share_bps": 6_000}])
    );
    let report = query(&s, json!({"report": {"deal_id": id}}));
    assert_eq!(report["share_bps"], 6_000, "{report}");
}

/// A staged deal on a fresh parcel of the seller's (no lien), accepted, its deposit paid and
/// both signatures given: the contract is concluded. Returns its id.
fn staged(s: &mut Story, parcel_id: &str) -> u64 {
    let a = s.actors.clone();
    let registry = s.system.registry;
    s.tx(
        a.officials[0],
        registry,
        json!({"register_parcel": {
            "parcel_id": parcel_id, "lot_number": "반포동 1", "address": "서울특별시 서초구 반포동 1",
            "area_m2_hundredths": 8_497, "land_use": "residential",
            "owners": [{"owner": a.seller, "share_bps": 10_000}],
        }}),
    )
    .expect("register");
    s.mint_to_buyer().expect("mint");
    let now = s.chain.block().time;
    let schedule = json!({
        "deposit": "90000000", "deposit_due": now + 3_600,
        "interim": "300000000", "interim_due": now + 7 * 86_400,
        "balance_due": now + 20 * 86_400,
    });
    let deal = s.system.deal;
    let r = s
        .tx(
            a.broker,
            deal,
            json!({"open": {
                "parcel_id": parcel_id, "seller": a.seller, "buyer": a.buyer, "price": "900000000",
                "deadline": now + 30 * 86_400, "schedule": schedule,
            }}),
        )
        .expect("open");
    let id = r.json::<Value>().expect("json")["deal_id"]
        .as_u64()
        .expect("id");
    s.tx(a.seller, deal, json!({"accept": {"deal_id": id}}))
        .expect("accept");
    let krw = s.system.krw;
    s.tx(
        a.buyer,
        krw,
        json!({"send": {"contract": s.system.escrow, "amount": "90000000", "msg": {"fund": {"deal_id": id}}}}),
    )
    .expect("deposit");
    let d = query(s, json!({"deal": {"deal_id": id}}));
    let terms = json!({
        "price": d["price"], "deadline": d["deadline"], "lender": null,
        "mortgage_amount": null, "schedule": d["schedule"],
    });
    for who in [a.seller, a.buyer] {
        s.tx(who, deal, json!({"sign": {"deal_id": id, "terms": terms}}))
            .expect("sign");
    }
    id
}

#[test]
fn earnest_money_the_buyer_forfeits_the_deposit_the_seller_returns_it_doubled() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    let a = s.actors.clone();
    let deal = s.system.deal;
    // The buyer walks away: the deposit is the seller's.
    let first = staged(&mut s, "ST-1");
    s.tx(a.buyer, deal, json!({"withdraw": {"deal_id": first}}))
        .expect("the buyer withdraws");
    assert_eq!(s.balance(a.seller).expect("balance"), 9 * EOK / 10);
    assert_eq!(s.balance(a.buyer).expect("balance"), 9 * EOK - 9 * EOK / 10);
    let report = query(&s, json!({"report": {"deal_id": first}}));
    assert_eq!(report["status"], "cancelled", "{report}");

    // A second sale: now the seller walks away, paying in the deposit again.
    let second = staged(&mut s, "ST-2");
    let buyer_before = s.balance(a.buyer).expect("balance");
    let krw = s.system.krw;
    s.tx(
        a.seller,
        krw,
        json!({"send": {"contract": s.system.escrow, "amount": "90000000", "msg": {"withdraw": {"deal_id": second}}}}),
    )
    .expect("the seller withdraws");
    s.tx(a.buyer, deal, json!({"refund": {"deal_id": second}}))
        .expect("the buyer takes the deposit doubled");
    assert_eq!(
        s.balance(a.buyer).expect("balance"),
        buyer_before + 2 * (9 * EOK / 10)
    );
    assert_eq!(s.balance(a.seller).expect("balance"), 0);
    assert_eq!(s.balance(s.system.escrow).expect("balance"), 0);
    // Two mints of the price; the seller's deposit went out again; nothing is lost.
    assert_eq!(s.balance(a.buyer).expect("balance"), 2 * 9 * EOK);
}

/// The Local Tax Act's table for a home, and the first-home relief (up to ₩2,000,000 off, for
/// a home up to 12억), set by the tax official; the tax goes to the city.
fn set_statutory_rates(s: &mut Story) {
    let (officer, tax, city) = (s.actors.tax_official, s.system.tax, s.actors.city);
    s.tx(
        officer,
        tax,
        json!({"set_rates": {
            "bands": [
                {"up_to": "600000000", "rate_bps": 100},
                {"up_to": "900000000", "rate_bps": 100, "rate_bps_at_top": 300},
                {"rate_bps": 300},
            ],
            "relief": {"max_price": "1200000000", "max_reduction": "2000000"},
            "municipality": city,
        }}),
    )
    .expect("set rates");
}

#[test]
fn the_first_home_relief_is_granted_once_per_person_even_under_a_second_key() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    let a = s.actors.clone();
    let (krw, deal, tax) = (s.system.krw, s.system.deal, s.system.tax);
    let refused_rates = refused(
        s.tx(
            a.buyer,
            tax,
            json!({"set_rates": {"bands": [], "municipality": a.city}}),
        ),
        "rates set by a citizen",
    );
    assert_eq!(
        refused_rates,
        "unauthorized: only an enrolled tax-official may set the tax rates"
    );
    set_statutory_rates(&mut s);

    // The first home: 9억, 3 % = 27,000,000 quoted when the seller accepts, paid with the price.
    s.register_parcel_with_lien().expect("parcel");
    s.mint_to_buyer().expect("mint");
    s.tx(
        a.bank_b,
        krw,
        json!({"mint": {"to": a.buyer, "amount": "27000000"}}),
    )
    .expect("mint the tax");
    let d = s.open_deal().expect("open");
    let quote = d.tax_quote.expect("quoted at acceptance");
    assert_eq!((quote.rate_bps, quote.full_tax.0), (300, 27_000_000));
    s.fund().expect("fund the price and the tax");
    s.sign_both().expect("sign");
    s.approve(2).expect("approve");
    let receipt = s.settle().expect("settle");
    let assessed = receipt
        .events
        .iter()
        .find(|e| e.ty == "acquisition_tax_assessed")
        .expect("the receipt says how the tax was assessed");
    let attr = |k: &str| {
        assessed
            .attributes
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(attr("rate_bps"), Some("300"));
    assert_eq!(attr("relief_status"), Some("applied"));
    assert_eq!(attr("tax"), Some("25000000"));
    assert_eq!(s.balance(a.city).expect("city"), 25_000_000);
    assert_eq!(
        s.balance(a.buyer).expect("buyer"),
        2_000_000,
        "the relief back"
    );
    assert_eq!(s.balance(s.system.escrow).expect("escrow"), 0);

    // The same person, with a second key the authority enrolled with the same person hash,
    // buys a second home: the relief is refused and the full rate applies.
    let second_key = hanok_testkit::TestChain::account("buyer-second-key");
    let identity = s.system.identity;
    s.tx(
        a.authority,
        identity,
        json!({"enrol": {"address": second_key, "roles": ["citizen"],
                         "person_hash": hanok_acceptance::BUYER_PERSON}}),
    )
    .expect("enrol the second key");
    let registry = s.system.registry;
    s.tx(
        a.officials[0],
        registry,
        json!({"register_parcel": {
            "parcel_id": "P-2", "lot_number": "2-1", "address": "서울특별시 마포구 2",
            "area_m2_hundredths": 5_900, "land_use": "residential",
            "owners": [{"owner": a.seller, "share_bps": 10_000}],
        }}),
    )
    .expect("second parcel");
    // 5억 at 1 %: 5,000,000.
    s.tx(
        a.bank_b,
        krw,
        json!({"mint": {"to": second_key, "amount": "505000000"}}),
    )
    .expect("mint");
    let deadline = s.chain.block().time + 86_400;
    let open = json!({"open": {"parcel_id": "P-2", "seller": a.seller, "buyer": second_key,
                               "price": "500000000", "deadline": deadline}});
    let id = close_to_approval(&mut s, open, &[a.seller]);
    s.tx(a.broker, deal, json!({"settle": {"deal_id": id}}))
        .expect("settle");
    let d = query(&s, json!({"deal": {"deal_id": id}}));
    assert_eq!(d["tax"]["relief_status"], "already_claimed", "{d}");
    assert_eq!(d["tax"]["tax"], "5000000");
    assert!(
        d["tax"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("already claimed it with deal 1")),
        "{d}"
    );
    assert_eq!(s.balance(a.city).expect("city"), 25_000_000 + 5_000_000);
    assert_eq!(s.balance(second_key).expect("second key"), 0);
    let claim: Value = s
        .chain
        .query(tax, &json!({"relief_of": {"address": second_key}}))
        .expect("relief_of");
    assert_eq!(claim["claim"]["deal_id"], 1, "{claim}");
    assert_eq!(claim["claim"]["buyer"], json!(a.buyer));
}
