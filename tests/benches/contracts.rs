//! Contract execution figures on the real system contracts: a registry title transfer executed
//! from JSON on a fresh instance (DESIGN.md target ≤ 25 µs first, then ≤ 8 µs), a deposit-token
//! transfer, and the whole atomic settlement.

use criterion::{criterion_group, criterion_main, Criterion};
use hanok_acceptance::{Story, Terms};
use serde_json::json;
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let mut s = Story::genesis(Terms::default()).expect("genesis");
    s.register_parcel_with_lien().expect("parcel");
    s.mint_to_buyer().expect("mint");
    let (registry, deal, krw) = (s.system.registry, s.system.deal, s.system.krw);
    let transfer =
        json!({"transfer_title": {"parcel_id": s.terms.parcel_id, "to": s.actors.buyer}});
    // The registry accepts title transfers only from the deal contract; a dry run as that sender
    // executes the real code path (JSON in, reads, writes, event) without committing.
    c.bench_function(
        "registry transfer_title from JSON (dry run, fresh instance)",
        |b| {
            b.iter(|| {
                black_box(
                    s.chain
                        .simulate(deal, registry, &transfer)
                        .expect("transfer"),
                )
            })
        },
    );
    let pay = json!({"transfer": {"to": s.actors.seller, "amount": "1000"}});
    c.bench_function("krw transfer from JSON (dry run, fresh instance)", |b| {
        b.iter(|| black_box(s.chain.simulate(s.actors.buyer, krw, &pay).expect("pay")))
    });

    let approved = Story::up_to_approval(Terms::default()).expect("story");
    let settle = json!({"settle": {"deal_id": approved.deal_id().expect("id")}});
    c.bench_function("deal settle: the whole atomic settlement (dry run)", |b| {
        b.iter(|| {
            black_box(
                approved
                    .chain
                    .simulate(approved.actors.broker, deal, &settle)
                    .expect("settle"),
            )
        })
    });
}

criterion_group!(contracts, benches);
criterion_main!(contracts);
