//! Limits count what is live: only active encumbrances count toward a parcel's cap of 64;
//! discharged liens and lifted seizures move to its past encumbrances, paged and uncapped.

use crate::refused;
use hanok_acceptance::{EncumbranceKind, Story, Terms, EOK};
use hanok_testkit::Call;
use serde_json::json;

/// Records and discharges Bank A liens until the parcel has `n` past liens (the story's lien,
/// rank 1, is the first), ten lien lifetimes per transaction.
fn pay_off_liens(s: &mut Story, n: u64) {
    let (registry, pid) = (s.system.registry, s.terms.parcel_id.clone());
    let discharge = |id: u64| {
        Call::new(
            registry,
            &json!({"discharge_lien": {"parcel_id": pid, "lien_id": id}}),
        )
        .expect("call")
    };
    s.chain
        .execute_calls(s.actors.bank_a, &[discharge(1)])
        .expect("discharge the story's lien");
    for batch in (2..=n).collect::<Vec<_>>().chunks(10) {
        let mut record = Vec::new();
        let mut pay = Vec::new();
        for id in batch {
            record.push(
                Call::new(
                    registry,
                    &json!({"record_lien": {"parcel_id": pid, "holder": s.actors.bank_a, "amount": "1000000"}}),
                )
                .expect("call"),
            );
            pay.push(discharge(*id));
        }
        s.chain
            .execute_calls(s.actors.officials[0], &record)
            .expect("record liens");
        s.chain
            .execute_calls(s.actors.bank_a, &pay)
            .expect("discharge liens");
        s.chain.next_block();
    }
}

#[test]
fn a_parcel_with_100_past_liens_takes_a_new_mortgage_and_a_seizure() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    pay_off_liens(&mut s, 100);
    let p = s.parcel().expect("parcel");
    assert!(p.encumbrances.is_empty());
    assert_eq!((p.past_encumbrances, p.last_rank), (100, 100));

    let (official, registry, pid) = (
        s.actors.officials[0],
        s.system.registry,
        s.terms.parcel_id.clone(),
    );
    let lien = s
        .tx(
            official,
            registry,
            json!({"record_lien": {"parcel_id": pid, "holder": s.actors.bank_b, "amount": (4 * EOK).to_string()}}),
        )
        .expect("a new mortgage on a parcel with 100 past liens");
    assert_eq!(
        lien.json::<serde_json::Value>().expect("data")["lien_id"],
        101
    );
    let seizure = s
        .tx(
            official,
            registry,
            json!({"freeze": {"parcel_id": pid, "court_order_hash": "ef".repeat(32)}}),
        )
        .expect("a court seizure on a parcel with 100 past liens");
    assert_eq!(
        seizure.json::<serde_json::Value>().expect("data")["seizure_id"],
        102
    );
    let p = s.parcel().expect("parcel");
    assert!(p.frozen);
    let active: Vec<_> = p
        .encumbrances
        .iter()
        .map(|e| (e.rank, matches!(e.kind, EncumbranceKind::Mortgage { .. })))
        .collect();
    assert_eq!(active, vec![(101, true), (102, false)]);

    // The past is all there, in rank order, a page at a time.
    let first = s.past_encumbrances(None).expect("page 1").encumbrances;
    let second = s.past_encumbrances(Some(50)).expect("page 2").encumbrances;
    let ranks: Vec<u64> = first.iter().chain(&second).map(|e| e.rank).collect();
    assert_eq!(ranks, (1..=100).collect::<Vec<_>>());
    assert!(first.iter().chain(&second).all(|e| !e.active));
}

#[test]
fn the_cap_counts_only_active_encumbrances() {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    let (official, registry, pid) = (
        s.actors.officials[0],
        s.system.registry,
        s.terms.parcel_id.clone(),
    );
    let lien = json!({"record_lien": {"parcel_id": pid, "holder": s.actors.bank_a, "amount": "1"}});
    // 63 more liens, 64 active; a few per transaction to stay within its gas.
    for _ in 0..9 {
        let calls: Vec<Call> = (0..7)
            .map(|_| Call::new(registry, &lien).expect("call"))
            .collect();
        s.chain.execute_calls(official, &calls).expect("liens");
        s.chain.next_block();
    }
    let msg = refused(
        s.tx(official, registry, lien.clone()),
        "a 65th active encumbrance",
    );
    assert_eq!(
        msg,
        format!("parcel {pid} already has 64 active encumbrances")
    );
    s.tx(
        s.actors.bank_a,
        registry,
        json!({"discharge_lien": {"parcel_id": pid, "lien_id": 7}}),
    )
    .expect("one paid off");
    s.tx(official, registry, lien)
        .expect("room again once one is discharged");
    let p = s.parcel().expect("parcel");
    assert_eq!((p.encumbrances.len(), p.past_encumbrances), (64, 1));
}
