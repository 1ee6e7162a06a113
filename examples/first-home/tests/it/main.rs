//! The first-home register as real wasm on the real VM, next to the real identity contract.
//!
//! These tests upload the committed module (`hanok_contracts::FIRST_HOME`, rebuilt from this
//! crate by `cargo xtask contracts`) to a [`TestChain`], which runs it through the same
//! `hanok_vm::Session` a node uses.

use hanok_first_home::{BudgetResponse, Claim, ExecuteMsg, QueryMsg, Revocation};
use hanok_sdk::{Address, Amount};
use hanok_testkit::{Call, TestChain, TestError};
use serde_json::json;

/// This contract as wasm: the committed artifact, which `hanok-contracts`' tests check was
/// built from this crate's current sources.
fn wasm() -> Vec<u8> {
    hanok_contracts::FIRST_HOME.to_vec()
}

/// The benefit per claim: five million won.
const BENEFIT: u128 = 5_000_000;

struct World {
    chain: TestChain,
    register: Address,
    bank_a: Address,
    bank_b: Address,
    official: Address,
    citizen: Address,
    broker: Address,
}

/// What a bank computes off-chain: sha256(salt || resident number) as lowercase hex.
fn person_hash(resident_number: &str) -> String {
    let mut input = b"first-home-2027-salt".to_vec();
    input.extend_from_slice(resident_number.as_bytes());
    hanok_sdk::sha256(&input)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Identity (with an account per role) and the register with a budget of `benefits` claims.
fn world(benefits: u128) -> World {
    let mut chain = TestChain::new();
    let a = TestChain::account;
    let (auth, bank_a, bank_b) = (a("authority"), a("bank-a"), a("bank-b"));
    let (official, citizen, broker) = (a("official"), a("citizen"), a("broker"));
    let identity = chain
        .deploy(
            auth,
            hanok_contracts::IDENTITY,
            "identity",
            &json!({ "authority": auth }),
        )
        .unwrap_or_else(|e| panic!("identity: {e}"));
    let enrol = |who: Address, role: &str| {
        Call::new(
            identity,
            &json!({"enrol": {"address": who, "roles": [role]}}),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let calls = [
        enrol(bank_a, "bank"),
        enrol(bank_b, "bank"),
        enrol(official, "official"),
        enrol(citizen, "citizen"),
        enrol(broker, "broker"),
    ];
    chain
        .execute_calls(auth, &calls)
        .unwrap_or_else(|e| panic!("enrol: {e}"));
    let register = chain
        .deploy(
            auth,
            &wasm(),
            "first-home",
            &json!({
                "identity": identity,
                "budget": Amount(benefits * BENEFIT),
                "benefit": Amount(BENEFIT),
            }),
        )
        .unwrap_or_else(|e| panic!("first-home: {e}"));
    chain.next_block();
    World {
        chain,
        register,
        bank_a,
        bank_b,
        official,
        citizen,
        broker,
    }
}

impl World {
    fn claim(&mut self, bank: Address, hash: &str, parcel: &str) -> Result<(), TestError> {
        let msg = ExecuteMsg::Claim {
            person_hash: hash.into(),
            parcel_id: parcel.into(),
        };
        let r = self.chain.execute(bank, self.register, &msg).map(drop);
        self.chain.next_block();
        r
    }

    fn record(&self, hash: &str) -> Option<Claim> {
        let msg = QueryMsg::Claim {
            person_hash: hash.into(),
        };
        self.chain
            .query(self.register, &msg)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn budget(&self) -> BudgetResponse {
        self.chain
            .query(self.register, &QueryMsg::Budget {})
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn refusal(r: Result<(), TestError>) -> String {
    match r {
        Ok(()) => panic!("expected a refusal"),
        Err(e) => e
            .contract_message()
            .unwrap_or_else(|| panic!("not a contract error: {e}"))
            .to_string(),
    }
}

#[test]
fn a_bank_claims_and_the_same_person_is_refused_everywhere_after() {
    let mut w = world(10);
    let kim = person_hash("9001011234567");
    let height = w.chain.block().height;
    let msg = ExecuteMsg::Claim {
        person_hash: kim.clone(),
        parcel_id: "1168010300-1-0123-0000".into(),
    };
    let tx = w
        .chain
        .execute(w.bank_a, w.register, &msg)
        .unwrap_or_else(|e| panic!("{e}"));
    let events: Vec<_> = tx.events_of("benefit_claimed").collect();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].attributes,
        [
            ("person_hash".to_string(), kim.clone()),
            (
                "parcel_id".to_string(),
                "1168010300-1-0123-0000".to_string()
            ),
        ]
    );
    w.chain.next_block();
    assert_eq!(
        w.record(&kim),
        Some(Claim {
            person_hash: kim.clone(),
            parcel_id: "1168010300-1-0123-0000".into(),
            bank: w.bank_a,
            height,
            revoked: None,
        })
    );

    // Same person, another bank, another parcel: refused, and not one byte of state moves.
    let before = w.chain.dump();
    let err = refusal(w.claim(w.bank_b, &kim, "1168010300-1-0999-0000"));
    assert_eq!(err, format!("already claimed at height {height}"));
    assert_eq!(w.chain.dump(), before);
    assert_eq!(
        w.budget(),
        BudgetResponse {
            total: Amount(10 * BENEFIT),
            remaining: Amount(9 * BENEFIT),
            claims: 1,
        }
    );
}

#[test]
fn citizens_and_brokers_cannot_claim() {
    let mut w = world(10);
    let before = w.chain.dump();
    for who in [
        w.citizen,
        w.broker,
        w.official,
        TestChain::account("nobody"),
    ] {
        let err = refusal(w.claim(who, &person_hash("9001011234567"), "p-1"));
        assert_eq!(err, "unauthorized: only an enrolled bank may file a claim");
    }
    assert_eq!(w.chain.dump(), before);
}

#[test]
fn raw_resident_numbers_and_non_hex_hashes_are_refused_and_never_echoed() {
    let mut w = world(10);
    let before = w.chain.dump();
    let good = person_hash("9001011234567");
    let cases = [
        (
            "9001011234567".to_string(),
            "looks like a raw resident number",
        ),
        (
            "900101-1234567".to_string(),
            "looks like a raw resident number",
        ),
        ("not-a-hash".to_string(), "got 10 characters"),
        (good.to_uppercase(), "it has a capital letter"),
        (format!("{}z", &good[..63]), "outside 0-9a-f"),
    ];
    for (bad, expected) in cases {
        let err = refusal(w.claim(w.bank_a, &bad, "p-1"));
        assert!(err.contains(expected), "{bad}: {err}");
        assert!(!err.contains(&bad), "the refusal echoes {bad}: {err}");
    }
    assert_eq!(w.chain.dump(), before);
}

#[test]
fn a_claim_beyond_the_budget_is_refused() {
    let mut w = world(2);
    let (a, b) = (w.bank_a, w.bank_b);
    assert!(w.claim(a, &person_hash("1"), "p-1").is_ok());
    assert!(w.claim(b, &person_hash("2"), "p-2").is_ok());
    let before = w.chain.dump();
    let err = refusal(w.claim(a, &person_hash("3"), "p-3"));
    assert_eq!(
        err,
        format!("budget exhausted: 0 remaining, the benefit is {BENEFIT}")
    );
    assert_eq!(w.chain.dump(), before);
    assert_eq!(w.record(&person_hash("3")), None);
}

#[test]
fn an_official_revokes_and_the_revoked_claim_still_blocks() {
    let mut w = world(10);
    let kim = person_hash("9001011234567");
    let claimed_at = w.chain.block().height;
    assert!(w.claim(w.bank_a, &kim, "p-1").is_ok());
    let revoke = ExecuteMsg::Revoke {
        person_hash: kim.clone(),
    };

    let err = w.chain.execute(w.bank_a, w.register, &revoke).map(drop);
    assert_eq!(
        refusal(err),
        "unauthorized: only an enrolled official may revoke a claim"
    );

    let revoked_at = w.chain.block().height;
    let tx = w
        .chain
        .execute(w.official, w.register, &revoke)
        .unwrap_or_else(|e| panic!("{e}"));
    let event: Vec<_> = tx.events_of("claim_revoked").collect();
    assert_eq!(
        event[0].attributes,
        [
            ("person_hash".to_string(), kim.clone()),
            ("by".to_string(), w.official.to_string()),
        ]
    );
    w.chain.next_block();
    assert_eq!(
        w.record(&kim).and_then(|c| c.revoked),
        Some(Revocation {
            by: w.official,
            height: revoked_at,
        })
    );
    let err = refusal(w.claim(w.bank_b, &kim, "p-2"));
    assert_eq!(err, format!("already claimed at height {claimed_at}"));
    assert_eq!(w.budget().remaining, Amount(9 * BENEFIT));
}
