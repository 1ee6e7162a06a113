//! `hanok-acceptance`: the acceptance story of DESIGN.md (a home sale with a lien payoff, closed
//! in one atomic transaction) as reusable steps over the real contracts on the real VM.
//!
//! [`Story`] holds a [`TestChain`] with the six system contracts deployed as a dev genesis would
//! (identity, registry, KRW deposit token, escrow, deal, tax — no rate table until a test's tax
//! official sets one) and the actors of DESIGN.md enrolled.
//! Each step is a method that returns what a user would check; `hanok demo` prints them, the
//! tests in `it/` assert them.
//!
//! Architecture Invariant: the story talks to contracts only with JSON messages, exactly as a
//! bank's Java or Python client would (so these tests also pin the wire format); it reads answers
//! with the response types of `hanok-messages`.

use hanok_abi::{Address, Amount};
use hanok_testkit::{Call, TestChain, TestError, TxResult};
use serde_json::{json, Value};

pub use hanok_messages::deal::{Deal, Status as DealStatus, Terms as SignedTerms};
pub use hanok_messages::registry::{
    EncumbranceKind, HistoryResponse, Parcel, PastEncumbrancesResponse, DEFAULT_MAX_DEAL_SECS,
};
/// The system contracts' addresses (the one definition, from `hanok-messages`).
pub use hanok_messages::system::SystemContracts as System;

/// `Result` of a story step.
pub type Result<T, E = TestError> = std::result::Result<T, E>;

/// One hundred million won, for readable amounts.
pub const EOK: u128 = 100_000_000;

/// The people and institutions of the story, as test accounts.
#[derive(Debug, Clone)]
pub struct Actors {
    /// The land registry authority (genesis account).
    pub authority: Address,
    /// Three registry officials; the policy needs two of them.
    pub officials: [Address; 3],
    /// Bank A: holds the seller's existing mortgage.
    pub bank_a: Address,
    /// Bank B: the buyer's bank; mints the deposit tokens and lends.
    pub bank_b: Address,
    /// The broker who opens the deal.
    pub broker: Address,
    /// The seller (a citizen, identified by address only).
    pub seller: Address,
    /// The buyer.
    pub buyer: Address,
    /// Someone enrolled with no special role.
    pub stranger: Address,
    /// Sets the acquisition-tax rates.
    pub tax_official: Address,
    /// The municipality: receives the acquisition tax.
    pub city: Address,
}

/// The buyer's person hash, as the authority enrols it with the buyer's key (a stand-in for
/// `sha256(salt ‖ resident number)`).
pub const BUYER_PERSON: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";

impl Default for Actors {
    fn default() -> Self {
        let a = TestChain::account;
        Actors {
            authority: a("registry-authority"),
            officials: [a("official-1"), a("official-2"), a("official-3")],
            bank_a: a("bank-a"),
            bank_b: a("bank-b"),
            broker: a("broker"),
            seller: a("seller"),
            buyer: a("buyer"),
            stranger: a("stranger"),
            tax_official: a("tax-official"),
            city: a("city"),
        }
    }
}

/// The numbers of the story; tests vary them to make settlement fail.
#[derive(Debug, Clone)]
pub struct Terms {
    /// The parcel's id.
    pub parcel_id: String,
    /// Bank A's existing lien: its registered maximum.
    pub lien_a: u128,
    /// The debt Bank A's payoff statement states (filed with the lien); `None`: the whole
    /// registered maximum.
    pub payoff_a: Option<u128>,
    /// The price.
    pub price: u128,
    /// Bank B's new mortgage for the buyer, as Bank B attaches it.
    pub new_mortgage: u128,
    /// The most the deal's terms let Bank B, the buyer's named lender, register.
    pub max_mortgage: u128,
    /// Seconds from opening to the deadline.
    pub deadline_in: u64,
}

impl Default for Terms {
    fn default() -> Self {
        Terms {
            parcel_id: "1168010300-1-0123-0000".into(),
            lien_a: 3 * EOK,
            payoff_a: None,
            price: 9 * EOK,
            new_mortgage: 6 * EOK,
            max_mortgage: 6 * EOK,
            deadline_in: 30 * 24 * 3600,
        }
    }
}

/// The story's state: the chain, who is who, and the open deal.
#[derive(Debug)]
pub struct Story {
    /// The chain.
    pub chain: TestChain,
    /// The actors.
    pub actors: Actors,
    /// The contracts.
    pub system: System,
    /// The terms.
    pub terms: Terms,
    /// The deal id once opened.
    pub deal_id: Option<u64>,
}

fn amount(v: u128) -> String {
    Amount(v).to_string()
}

impl Story {
    /// Step 1: a chain whose genesis holds the authority, two banks, a broker, three officials
    /// and the system contracts, with the registry's policy at 2 of 3.
    ///
    /// # Errors
    /// Any failed deployment or enrolment.
    pub fn genesis(terms: Terms) -> Result<Story> {
        let actors = Actors::default();
        let mut chain = TestChain::new();
        let auth = actors.authority;
        let system = System::of(&auth);
        let c = hanok_contracts::IDENTITY;
        chain.deploy(auth, c, "identity", &json!({ "authority": auth }))?;
        let enrol = |who: Address, roles: &[&str]| -> Result<Call> {
            Call::new(
                system.identity,
                &json!({"enrol": {"address": who, "roles": roles}}),
            )
        };
        let mut calls = Vec::new();
        for o in actors.officials {
            calls.push(enrol(o, &["official"])?);
        }
        calls.push(enrol(actors.bank_a, &["bank"])?);
        calls.push(enrol(actors.bank_b, &["bank"])?);
        calls.push(enrol(actors.broker, &["broker"])?);
        for citizen in [actors.seller, actors.stranger] {
            calls.push(enrol(citizen, &["citizen"])?);
        }
        calls.push(Call::new(
            system.identity,
            &json!({"enrol": {"address": actors.buyer, "roles": ["citizen"], "person_hash": BUYER_PERSON}}),
        )?);
        calls.push(enrol(actors.tax_official, &["tax-official"])?);
        calls.push(enrol(actors.city, &["municipality"])?);
        chain.execute_calls(auth, &calls)?;
        chain.deploy(
            auth,
            hanok_contracts::REGISTRY,
            "registry",
            &json!({
                "identity": system.identity,
                "deal": system.deal,
                "policy": {"threshold": 2, "officials": actors.officials},
            }),
        )?;
        chain.deploy(
            auth,
            hanok_contracts::KRW,
            "krw",
            &json!({ "identity": system.identity }),
        )?;
        chain.deploy(
            auth,
            hanok_contracts::ESCROW,
            "escrow",
            &json!({ "token": system.krw, "deal": system.deal }),
        )?;
        chain.deploy(
            auth,
            hanok_contracts::DEAL,
            "deal",
            &json!({
                "identity": system.identity,
                "registry": system.registry,
                "escrow": system.escrow,
                "token": system.krw,
                "tax": system.tax,
            }),
        )?;
        chain.deploy(
            auth,
            hanok_contracts::TAX,
            "tax",
            &json!({ "identity": system.identity, "deal": system.deal }),
        )?;
        chain.next_block();
        Ok(Story {
            chain,
            actors,
            system,
            terms,
            deal_id: None,
        })
    }

    /// The open deal's id.
    ///
    /// # Errors
    /// [`TestError::Json`] if no deal was opened yet.
    pub fn deal_id(&self) -> Result<u64> {
        self.deal_id
            .ok_or_else(|| TestError::Json("no deal opened yet".into()))
    }

    /// Executes `msg` on `contract` as `sender` and moves to the next block.
    ///
    /// # Errors
    /// The contract's or the VM's error.
    pub fn tx(&mut self, sender: Address, contract: Address, msg: Value) -> Result<TxResult> {
        let r = self.chain.execute(sender, contract, &msg);
        self.chain.next_block();
        r
    }

    /// Step 2: an official registers parcel P to the seller, then records Bank A's lien; Bank A
    /// files its payoff statement (`Terms::payoff_a`), valid a day past the deal's deadline.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn register_parcel_with_lien(&mut self) -> Result<Parcel> {
        let (official, registry) = (self.actors.officials[0], self.system.registry);
        self.tx(
            official,
            registry,
            json!({"register_parcel": {
                "parcel_id": self.terms.parcel_id,
                "lot_number": "대치동 123",
                "address": "서울특별시 강남구 대치동 123",
                "area_m2_hundredths": 8_497,
                "land_use": "residential",
                "owners": [{"owner": self.actors.seller, "share_bps": 10_000}],
            }}),
        )?;
        self.tx(
            official,
            registry,
            json!({"record_lien": {
                "parcel_id": self.terms.parcel_id,
                "holder": self.actors.bank_a,
                "amount": amount(self.terms.lien_a),
            }}),
        )?;
        let valid_until = self
            .chain
            .block()
            .time
            .saturating_add(self.terms.deadline_in)
            .saturating_add(24 * 3600);
        self.tx(
            self.actors.bank_a,
            registry,
            json!({"file_payoff": {
                "parcel_id": self.terms.parcel_id,
                "lien_id": 1,
                "amount": amount(self.terms.payoff_a.unwrap_or(self.terms.lien_a)),
                "valid_until": valid_until,
            }}),
        )?;
        self.parcel()
    }

    /// Step 3: Bank B mints the price in deposit tokens to the buyer (cash plus loan).
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn mint_to_buyer(&mut self) -> Result<u128> {
        let (bank_b, krw) = (self.actors.bank_b, self.system.krw);
        let buyer = self.actors.buyer;
        self.tx(
            bank_b,
            krw,
            json!({"mint": {"to": buyer, "amount": amount(self.terms.price)}}),
        )?;
        self.balance(buyer)
    }

    /// Step 4: the broker proposes the deal (naming Bank B as the buyer's lender), the seller
    /// accepts it, and Bank B attaches the buyer's new mortgage.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn open_deal(&mut self) -> Result<Deal> {
        self.propose()?;
        self.accept()?;
        self.attach_mortgage()
    }

    /// Step 4a: the broker proposes the deal on the story's terms; it binds nothing yet.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn propose(&mut self) -> Result<u64> {
        let deadline = self
            .chain
            .block()
            .time
            .saturating_add(self.terms.deadline_in);
        let r = self.tx(
            self.actors.broker,
            self.system.deal,
            json!({"open": {
                "parcel_id": self.terms.parcel_id,
                "seller": self.actors.seller,
                "buyer": self.actors.buyer,
                "price": amount(self.terms.price),
                "deadline": deadline,
                "lender": {"bank": self.actors.bank_b, "max_amount": amount(self.terms.max_mortgage)},
            }}),
        )?;
        let opened: Value = r.json()?;
        let id = opened["deal_id"]
            .as_u64()
            .ok_or_else(|| TestError::Json(format!("open returned {opened}")))?;
        self.deal_id = Some(id);
        Ok(id)
    }

    /// Step 4b: the seller accepts the proposal; from now on the deal holds the parcel.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn accept(&mut self) -> Result<Deal> {
        let id = self.deal_id()?;
        self.tx(
            self.actors.seller,
            self.system.deal,
            json!({"accept": {"deal_id": id}}),
        )?;
        self.deal()
    }

    /// Step 4c: Bank B, the lender the terms name, attaches the buyer's new mortgage.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn attach_mortgage(&mut self) -> Result<Deal> {
        let id = self.deal_id()?;
        self.tx(
            self.actors.bank_b,
            self.system.deal,
            json!({"attach_mortgage": {"deal_id": id, "amount": amount(self.terms.new_mortgage)}}),
        )?;
        self.deal()
    }

    /// Step 5a: the buyer funds the escrow by sending the price (and the acquisition tax the
    /// deal quoted, if any) with the deal id.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn fund(&mut self) -> Result<Deal> {
        let id = self.deal_id()?;
        let due = self.deal()?.total_due().map_or(self.terms.price, |a| a.0);
        self.tx(
            self.actors.buyer,
            self.system.krw,
            json!({"send": {
                "contract": self.system.escrow,
                "amount": amount(due),
                "msg": {"fund": {"deal_id": id}},
            }}),
        )?;
        self.deal()
    }

    /// Step 5b: seller and buyer sign the agreement's terms as the deal shows them.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn sign_both(&mut self) -> Result<Deal> {
        for who in [self.actors.seller, self.actors.buyer] {
            self.sign(who)?;
        }
        self.deal()
    }

    /// `who` signs the terms the deal shows now.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn sign(&mut self, who: Address) -> Result<TxResult> {
        let terms = self.deal()?.terms();
        self.sign_terms(who, &terms)
    }

    /// `who` signs `terms`, whatever the deal says.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn sign_terms(&mut self, who: Address, terms: &SignedTerms) -> Result<TxResult> {
        let id = self.deal_id()?;
        self.tx(
            who,
            self.system.deal,
            json!({"sign": {"deal_id": id, "terms": terms}}),
        )
    }

    /// Step 6: officials approve; `n` of them, in order.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn approve(&mut self, n: usize) -> Result<Deal> {
        let id = self.deal_id()?;
        for official in self.actors.officials.into_iter().take(n) {
            self.tx(
                official,
                self.system.deal,
                json!({"approve": {"deal_id": id}}),
            )?;
        }
        self.deal()
    }

    /// One more approval, by `official`.
    ///
    /// # Errors
    /// The contract's refusal.
    pub fn approve_as(&mut self, official: Address) -> Result<Deal> {
        let id = self.deal_id()?;
        self.tx(
            official,
            self.system.deal,
            json!({"approve": {"deal_id": id}}),
        )?;
        self.deal()
    }

    /// Step 7: the broker settles: one atomic transaction.
    ///
    /// # Errors
    /// The contract's refusal; nothing changes then.
    pub fn settle(&mut self) -> Result<TxResult> {
        let id = self.deal_id()?;
        self.tx(
            self.actors.broker,
            self.system.deal,
            json!({"settle": {"deal_id": id}}),
        )
    }

    /// Steps 2–6 in order: everything up to an approved deal.
    ///
    /// # Errors
    /// The first step that fails.
    pub fn up_to_approval(terms: Terms) -> Result<Story> {
        let mut s = Story::genesis(terms)?;
        s.register_parcel_with_lien()?;
        s.mint_to_buyer()?;
        s.open_deal()?;
        s.fund()?;
        s.sign_both()?;
        s.approve(2)?;
        Ok(s)
    }

    /// The parcel as the registry shows it.
    ///
    /// # Errors
    /// The query's error.
    pub fn parcel(&self) -> Result<Parcel> {
        self.chain.query(
            self.system.registry,
            &json!({"parcel": {"parcel_id": self.terms.parcel_id}}),
        )
    }

    /// The parcel's history.
    ///
    /// # Errors
    /// The query's error.
    pub fn history(&self) -> Result<HistoryResponse> {
        self.chain.query(
            self.system.registry,
            &json!({"history": {"parcel_id": self.terms.parcel_id, "start_after": null, "limit": 50}}),
        )
    }

    /// A page of the parcel's past (discharged or lifted) encumbrances.
    ///
    /// # Errors
    /// The query's error.
    pub fn past_encumbrances(&self, start_after: Option<u64>) -> Result<PastEncumbrancesResponse> {
        self.chain.query(
            self.system.registry,
            &json!({"past_encumbrances": {"parcel_id": self.terms.parcel_id, "start_after": start_after, "limit": 50}}),
        )
    }

    /// The deal holding the parcel, if any.
    ///
    /// # Errors
    /// The query's error.
    pub fn deal_by_parcel(&self) -> Result<Option<u64>> {
        let v: Value = self.chain.query(
            self.system.deal,
            &json!({"deal_by_parcel": {"parcel_id": self.terms.parcel_id}}),
        )?;
        Ok(v["deal_id"].as_u64())
    }

    /// The deal.
    ///
    /// # Errors
    /// The query's error.
    pub fn deal(&self) -> Result<Deal> {
        self.chain.query(
            self.system.deal,
            &json!({"deal": {"deal_id": self.deal_id()?}}),
        )
    }

    /// A KRW balance.
    ///
    /// # Errors
    /// The query's error.
    pub fn balance(&self, who: Address) -> Result<u128> {
        let v: Value = self
            .chain
            .query(self.system.krw, &json!({"balance": {"address": who}}))?;
        v["balance"]
            .as_str()
            .and_then(|s| s.parse::<u128>().ok())
            .ok_or_else(|| TestError::Json(format!("balance returned {v}")))
    }
}
