//! DESIGN.md steps 1–7: a home sale with a lien payoff, closed in one atomic transaction.

use hanok_acceptance::{DealStatus, EncumbranceKind, Story, Terms, EOK};

#[test]
fn home_sale_with_lien_payoff_settles_atomically() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    let a = s.actors.clone();

    // Step 2: parcel registered to the seller with Bank A's lien of 300,000,000 KRW, and Bank
    // A's payoff statement for it.
    let parcel = s.register_parcel_with_lien().expect("register + lien");
    let parcel_before_settlement = parcel.clone();
    assert_eq!(parcel.owners.len(), 1);
    assert_eq!(parcel.owners[0].owner, a.seller);
    assert_eq!(parcel.encumbrances.len(), 1);
    assert!(matches!(&parcel.encumbrances[0].kind,
        EncumbranceKind::Mortgage { holder, amount, payoff: Some(p) }
            if *holder == a.bank_a && amount.0 == 3 * EOK && p.amount.0 == 3 * EOK));

    // Step 3: Bank B mints 900,000,000 KRW to the buyer.
    assert_eq!(s.mint_to_buyer().expect("mint"), 9 * EOK);

    // Steps 4–6.
    assert_eq!(s.open_deal().expect("open").status, DealStatus::Open);
    assert_eq!(s.fund().expect("fund").status, DealStatus::Funded);
    assert_eq!(
        s.balance(a.buyer).expect("balance"),
        0,
        "the buyer's money is in escrow"
    );
    assert_eq!(s.balance(s.system.escrow).expect("balance"), 9 * EOK);
    assert_eq!(s.sign_both().expect("sign").status, DealStatus::Signed);
    let after_one = s.approve(1).expect("first approval");
    assert_eq!(
        after_one.status,
        DealStatus::Signed,
        "one approval of the 2-of-3 policy is not enough"
    );
    let id = s.deal_id().expect("id");
    let approved = s
        .tx(
            a.officials[1],
            s.system.deal,
            serde_json::json!({"approve": {"deal_id": id}}),
        )
        .and_then(|_| s.deal())
        .expect("second approval");
    assert_eq!(approved.status, DealStatus::Approved);

    // Step 7: one transaction.
    let settled = s.settle().expect("settle");
    assert_eq!(
        s.balance(a.bank_a).expect("bank A"),
        3 * EOK,
        "Bank A is paid off"
    );
    assert_eq!(
        s.balance(a.seller).expect("seller"),
        6 * EOK,
        "the seller gets the rest"
    );
    assert_eq!(
        s.balance(s.system.escrow).expect("escrow"),
        0,
        "the escrow is empty"
    );
    assert_eq!(s.balance(a.buyer).expect("buyer"), 0);

    let parcel = s.parcel().expect("parcel");
    assert_eq!(parcel.owners.len(), 1);
    assert_eq!(
        parcel.owners[0].owner, a.buyer,
        "the title moved to the buyer"
    );
    assert_eq!(parcel.owners[0].share_bps, 10_000);
    let liens: Vec<_> = parcel
        .encumbrances
        .iter()
        .map(|e| match &e.kind {
            EncumbranceKind::Mortgage { holder, amount, .. } => {
                (e.rank, *holder, amount.0, e.active)
            }
            other => panic!("only mortgages expected, got {other:?}"),
        })
        .collect();
    assert_eq!(
        liens,
        vec![(2, a.bank_b, 6 * EOK, true)],
        "Bank B's new lien is recorded at the next rank and is the only active one"
    );
    // The discharged lien keeps the statement it was paid off on.
    let past_payoff = match &parcel_before_settlement.encumbrances[0].kind {
        EncumbranceKind::Mortgage { payoff, .. } => *payoff,
        other => panic!("Bank A's lien expected, got {other:?}"),
    };
    let past: Vec<_> = s
        .past_encumbrances(None)
        .expect("past encumbrances")
        .encumbrances
        .into_iter()
        .map(|e| (e.rank, e.kind, e.active))
        .collect();
    assert_eq!(
        past,
        vec![(
            1,
            EncumbranceKind::Mortgage {
                holder: a.bank_a,
                amount: hanok_abi::Amount(3 * EOK),
                payoff: past_payoff,
            },
            false
        )],
        "Bank A's discharged lien moved to the parcel's past encumbrances"
    );
    assert_eq!(s.deal().expect("deal").status, DealStatus::Settled);

    // Events of the one settlement transaction, from every contract it touched.
    let types: Vec<&str> = settled.events.iter().map(|e| e.ty.as_str()).collect();
    for expected in ["lien_paid_off", "deal_settled"] {
        assert!(
            types.contains(&expected),
            "missing event {expected} in {types:?}"
        );
    }
    let contracts: std::collections::BTreeSet<_> =
        settled.events.iter().map(|e| e.contract).collect();
    assert!(
        contracts.contains(&s.system.registry) && contracts.contains(&s.system.deal),
        "{types:?}"
    );

    // The register's history tells the story in order.
    let actions: Vec<String> = s
        .history()
        .expect("history")
        .entries
        .iter()
        .map(|e| {
            serde_json::to_value(e.action)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "registered",
            "lien_recorded",
            "payoff_filed",
            "lien_discharged",
            "title_transferred",
            "lien_recorded"
        ],
    );
}

#[test]
fn the_story_is_deterministic_byte_for_byte() {
    let run = || {
        let mut s = Story::up_to_approval(Terms::default()).expect("story");
        s.settle().expect("settle");
        s.chain.dump_text()
    };
    let (first, second) = (run(), run());
    assert!(!first.is_empty());
    assert_eq!(
        first, second,
        "two runs from empty state must give identical state dumps"
    );
}
