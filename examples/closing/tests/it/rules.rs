//! The deal rules of issue 15 over real gRPC: each hole, tried as an attacker with an ordinary
//! enrolled dev account would, is refused with the contract's own words in a committed receipt;
//! each legitimate path goes through. One dev node per test, sled in a tempdir, the real
//! system contracts as wasm, driven with the client SDK's typed clients.

use super::{dev_node, Result};
use hanok_client::messages::registry::{self, LandUse};
use hanok_client::{
    Amount, Client, ClientError, Lender, NewParcel, OpenDeal, Owner, Role, SignedTerms, Signer,
};
use hanok_closing::{Actors, System, EOK};
use hanok_node::NodeHandle;
use hanok_types::Address;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PRICE: u128 = 9 * EOK;
const MORTGAGE: u128 = 6 * EOK;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The contract's refusal, which `r` must be; anything else fails the test. The receipt says
/// `contract 0x… returned an error: <message>`; the message is what docs/contracts.md lists.
fn refused<T: std::fmt::Debug>(r: hanok_client::Result<T>, what: &str) -> String {
    match r {
        Err(e @ ClientError::Contract { .. }) => {
            let text = e.contract_message().unwrap_or_default();
            text.split_once(" returned an error: ")
                .map_or(text, |(_, m)| m)
                .to_string()
        }
        other => panic!("{what}: expected the contract to refuse, got {other:?}"),
    }
}

/// A dev node with a parcel registered to the seller and the price minted to the buyer.
struct World {
    node: NodeHandle,
    client: Client,
    sys: System,
    a: Actors,
    parcel: String,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new() -> Result<World> {
        let dir = tempfile::tempdir()?;
        let node = dev_node(dir.path()).await?;
        let client = Client::connect(format!("http://{}", node.local_addr)).await?;
        let a = Actors::dev();
        let sys = hanok_closing::discover(&client, a.authority.address()).await?;
        let w = World {
            node,
            client,
            sys,
            a,
            parcel: "1168010300-1-0777-0000".into(),
            _dir: dir,
        };
        w.client
            .registry(w.sys.registry)
            .register_parcel(
                &w.a.officials[0],
                &NewParcel {
                    parcel_id: w.parcel.clone(),
                    lot_number: "대치동 777".into(),
                    address: "서울특별시 강남구 대치동 777".into(),
                    area_m2_hundredths: 8_497,
                    land_use: LandUse::Residential,
                    owners: vec![Owner {
                        owner: w.a.seller.address(),
                        share_bps: 10_000,
                    }],
                },
            )
            .await?;
        w.client
            .krw(w.sys.krw)
            .mint(&w.a.bank_b, w.a.buyer.address(), PRICE)
            .await?;
        Ok(w)
    }

    fn deals(&self) -> hanok_client::Deal<'_> {
        self.client.deal(self.sys.deal)
    }

    /// The story's deal: buyer, price, Bank B as the lender up to the mortgage.
    fn terms(&self, deadline: u64) -> OpenDeal {
        OpenDeal {
            parcel_id: self.parcel.clone(),
            seller: self.a.seller.address(),
            buyer: self.a.buyer.address(),
            price: PRICE,
            deadline,
            lender: Some(Lender {
                bank: self.a.bank_b.address(),
                max_amount: Amount(MORTGAGE),
            }),
            co_sellers: Vec::new(),
            share_sale: false,
            schedule: None,
        }
    }

    /// Proposed by the broker and accepted by the seller.
    async fn accepted(&self, deadline: u64) -> Result<u64> {
        let id = self
            .deals()
            .open(&self.a.broker, &self.terms(deadline))
            .await?;
        self.deals().accept(&self.a.seller, id).await?;
        Ok(id)
    }

    async fn fund(&self, id: u64) -> hanok_client::Result<hanok_client::v1::Receipt> {
        self.client
            .krw(self.sys.krw)
            .fund_escrow(&self.a.buyer, self.sys.escrow, id, PRICE)
            .await
    }

    /// Accepted, mortgage attached, funded, signed by both, approved by officials 1 and 2.
    async fn approved(&self) -> Result<u64> {
        let id = self.accepted(unix_now() + 30 * 24 * 3600).await?;
        self.deals()
            .attach_mortgage(&self.a.bank_b, id, MORTGAGE)
            .await?;
        self.fund(id).await?;
        let terms = self.deals().terms(id).await?;
        for who in [&self.a.seller, &self.a.buyer] {
            self.deals().sign(who, id, &terms).await?;
        }
        for o in &self.a.officials[..2] {
            self.deals().approve(o, id).await?;
        }
        Ok(id)
    }

    /// The deal as JSON, as a client in another language reads it.
    async fn deal(&self, id: u64) -> Result<Value> {
        Ok(serde_json::to_value(self.deals().deal(id).await?)?)
    }

    /// The parcel as JSON, as a client in another language reads it.
    async fn parcel(&self) -> Result<Value> {
        let p = self
            .client
            .registry(self.sys.registry)
            .parcel(&self.parcel)
            .await?;
        Ok(serde_json::to_value(p)?)
    }

    /// The authority replaces `who`'s roles.
    async fn enrol(&self, who: &Signer, role: Role) -> Result<()> {
        self.client
            .identity(self.sys.identity)
            .enrol(&self.a.authority, who.address(), &[role])
            .await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_only_the_named_lender_attaches_the_agreed_mortgage_before_signing() -> Result {
    let w = World::new().await?;
    let id = w.accepted(unix_now() + 30 * 24 * 3600).await?;
    let d = w.deals();

    // Any other bank, any amount: refused, and the buyer's lender is not blocked.
    let msg = refused(
        d.attach_mortgage(&w.a.bank_a, id, u128::MAX).await,
        "a mortgage by a bank the terms do not name",
    );
    assert_eq!(
        msg,
        format!("unauthorized: only the lender deal {id} names may attach its mortgage")
    );
    let msg = refused(
        d.attach_mortgage(&w.a.bank_b, id, MORTGAGE + 1).await,
        "a mortgage above the agreed maximum",
    );
    assert_eq!(
        msg,
        format!(
            "mortgage {} exceeds the {MORTGAGE} deal {id} allows its lender",
            MORTGAGE + 1
        )
    );
    d.attach_mortgage(&w.a.bank_b, id, MORTGAGE).await?;
    w.fund(id).await?;

    // A signature must state the deal's exact terms.
    let terms = d.terms(id).await?;
    let other = SignedTerms {
        mortgage_amount: Some(Amount(EOK)),
        ..terms
    };
    let msg = refused(
        d.sign(&w.a.buyer, id, &other).await,
        "a signature over other terms",
    );
    assert!(msg.starts_with("terms mismatch: "), "{msg}");
    d.sign(&w.a.buyer, id, &terms).await?;
    // After a signature the mortgage no longer changes.
    let msg = refused(
        d.attach_mortgage(&w.a.bank_b, id, 5 * EOK).await,
        "a mortgage changed after a signature",
    );
    assert!(
        msg.ends_with("the mortgage must be attached before the parties sign"),
        "{msg}"
    );

    d.sign(&w.a.seller, id, &terms).await?;
    for o in &w.a.officials[..2] {
        d.approve(o, id).await?;
    }
    d.settle(&w.a.broker, id).await?;
    let p = w.parcel().await?;
    assert_eq!(
        p["encumbrances"],
        json!([{"id": 1, "rank": 1, "active": true,
            "kind": {"mortgage": {"holder": w.a.bank_b.address(), "amount": MORTGAGE.to_string()}},
            "recorded_height": p["encumbrances"][0]["recorded_height"]}]),
        "settlement recorded exactly the signed mortgage"
    );
    w.node.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_a_proposal_locks_nothing_and_an_expired_deal_frees_its_parcel() -> Result {
    let w = World::new().await?;
    let d = w.deals();
    let broker = w.a.broker.address();

    // The broker names itself buyer at 1 won, with a deadline that never comes.
    let mut own = OpenDeal {
        buyer: broker,
        price: 1,
        deadline: u64::MAX,
        lender: None,
        ..w.terms(0)
    };
    let msg = refused(d.open(&w.a.broker, &own).await, "an endless deadline");
    assert!(msg.starts_with("deadline too far ahead: "), "{msg}");
    own.deadline = unix_now() + 300 * 24 * 3600;
    let own_id = d.open(&w.a.broker, &own).await?;
    w.client.krw(w.sys.krw).mint(&w.a.bank_b, broker, 1).await?;
    let msg = refused(
        w.client
            .krw(w.sys.krw)
            .fund_escrow(&w.a.broker, w.sys.escrow, own_id, 1)
            .await,
        "funding a proposal the seller never accepted",
    );
    assert_eq!(msg, format!("deal {own_id} is not open (status proposed)"));
    let msg = refused(d.accept(&w.a.broker, own_id).await, "a broker accepting");
    assert_eq!(
        msg,
        format!("unauthorized: only the seller may accept deal {own_id}")
    );
    assert_eq!(d.deal_by_parcel(&w.parcel).await?, None, "nothing is held");

    // The seller's acceptance binds the parcel — until the deadline, a few seconds away.
    let deadline = unix_now() + 3;
    let id = w.accepted(deadline).await?;
    w.fund(id).await?;
    assert_eq!(d.deal_by_parcel(&w.parcel).await?, Some(id));
    let msg = refused(
        d.open(&w.a.broker, &w.terms(deadline + 60)).await,
        "a second deal on a held parcel",
    );
    assert_eq!(
        msg,
        format!("parcel {} already has pending deal {id}", w.parcel)
    );

    // The buyer never comes back. Once block time passes the deadline (blocks are timed by
    // the wall clock), the next deal on the parcel marks this one expired.
    let give_up = Instant::now() + Duration::from_secs(20);
    while unix_now() <= deadline {
        assert!(
            Instant::now() < give_up,
            "the clock never passed {deadline}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let next_terms = w.terms(unix_now() + 3600);
    let next = d.open(&w.a.broker, &next_terms).await?;
    assert_eq!(w.deal(id).await?["status"], "expired");
    d.accept(&w.a.seller, next).await?;
    assert_eq!(d.deal_by_parcel(&w.parcel).await?, Some(next));

    // The expired deal's buyer still takes the whole price back.
    let token = w.client.krw(w.sys.krw);
    let before = token.balance(w.a.buyer.address()).await?;
    d.refund(&w.a.buyer, id).await?;
    assert_eq!(token.balance(w.a.buyer.address()).await?, before + PRICE);
    assert_eq!(w.deal(id).await?["status"], "refunded");
    w.node.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_a_demoted_official_neither_settles_nor_counts() -> Result {
    let w = World::new().await?;
    let id = w.approved().await?; // by officials 1 and 2
    let d = w.deals();
    let [_, second, third] = &w.a.officials;

    // Official 3 is in the policy but no longer enrolled as an official.
    w.enrol(third, Role::Citizen).await?;
    let msg = refused(
        d.settle(third, id).await,
        "settlement by a demoted official",
    );
    assert_eq!(
        msg,
        "unauthorized: only the broker, seller, buyer or a policy official may settle"
    );
    // Official 2 approved, then was demoted: that approval no longer counts.
    w.enrol(second, Role::Citizen).await?;
    let msg = refused(
        d.settle(&w.a.broker, id).await,
        "settlement with a demoted official's approval",
    );
    assert_eq!(
        msg,
        format!(
            "not enough approvals: deal {id} has 1 by officials still enrolled and in the \
             registry policy, which needs 2"
        )
    );
    assert_eq!(w.deal(id).await?["status"], "approved");
    assert_eq!(
        w.parcel().await?["owners"][0]["owner"],
        w.a.seller.address().to_string()
    );

    // Official 3, enrolled again, approves and settles: a current official closes the deal.
    w.enrol(third, Role::Official).await?;
    d.approve(third, id).await?;
    d.settle(third, id).await?;
    assert_eq!(w.deal(id).await?["status"], "settled");
    assert_eq!(
        w.parcel().await?["owners"][0]["owner"],
        w.a.buyer.address().to_string()
    );
    w.node.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_a_parcel_with_100_past_liens_takes_a_new_mortgage_and_a_seizure() -> Result {
    let w = World::new().await?;
    let registry = w.sys.registry;
    let bank_a: Address = w.a.bank_a.address();
    // A hundred mortgages recorded and paid off, ten per transaction.
    for round in 0..10u64 {
        let mut record = w.client.tx_builder(&w.a.officials[0]).await?;
        let mut discharge = w.client.tx_builder(&w.a.bank_a).await?;
        for i in 1..=10 {
            record = record.execute(
                registry,
                &registry::ExecuteMsg::RecordLien {
                    parcel_id: w.parcel.clone(),
                    holder: bank_a,
                    amount: Amount(1_000_000),
                },
            )?;
            discharge = discharge.execute(
                registry,
                &registry::ExecuteMsg::DischargeLien {
                    parcel_id: w.parcel.clone(),
                    lien_id: round * 10 + i,
                },
            )?;
        }
        w.client
            .submit_and_wait_ok(&record.sign(&w.a.officials[0])?)
            .await?;
        w.client
            .submit_and_wait_ok(&discharge.sign(&w.a.bank_a)?)
            .await?;
    }
    let p = w.parcel().await?;
    assert_eq!(
        (p["encumbrances"].clone(), p["past_encumbrances"].clone()),
        (json!([]), json!(100))
    );

    let reg = w.client.registry(registry);
    let lien = reg
        .record_lien(&w.a.officials[0], &w.parcel, w.a.bank_b.address(), 4 * EOK)
        .await?;
    assert_eq!(lien, 101);
    let seizure = reg
        .freeze(&w.a.officials[1], &w.parcel, &"ef".repeat(32))
        .await?;
    assert_eq!(seizure, 102);
    let p = w.parcel().await?;
    assert_eq!(p["frozen"], true);
    let ranks: Vec<&Value> = p["encumbrances"]
        .as_array()
        .map_or(Vec::new(), |e| e.iter().map(|e| &e["rank"]).collect());
    assert_eq!(ranks, [&json!(101), &json!(102)]);
    let page = reg.past_encumbrances(&w.parcel, Some(90), None).await?;
    let past: Vec<u64> = page.encumbrances.iter().map(|e| e.rank).collect();
    assert_eq!(past, (91..=100).collect::<Vec<_>>());
    w.node.shutdown().await?;
    Ok(())
}
