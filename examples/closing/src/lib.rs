//! `hanok-closing`: the acceptance story of DESIGN.md — a home sale with a lien payoff, closed
//! in one atomic transaction — told over real gRPC with the Rust client SDK, the way a bank's
//! or a broker's integration would do it. `hanok demo` runs it against a node; so does the
//! `hanok-closing` binary (`--endpoint URL`).
//!
//! Read [`run`] from top to bottom: every step is a few calls on [`hanok_client`] — typed
//! clients for the registry, the KRW deposit token and the deal contract, `Simulate` for a dry
//! run, and a title proof checked on the client against a signed block header. Each step checks
//! what the people involved would check and stops with a [`ClosingError`] if it is not so.
//!
//! The story runs on any node whose system contracts were created by the dev authority (the
//! dev genesis of `hanok node --dev`): it finds them by label with `ListContracts`, picks
//! parcel ids nobody has registered yet (proven absent), and checks balances as differences, so
//! it can run again and again on the same node.

use hanok_client::messages::deal::{self, Deal, Status};
use hanok_client::messages::registry::{Encumbrance, EncumbranceKind, LandUse, Parcel};
use hanok_client::messages::system::SystemContracts;
use hanok_client::messages::tax::{self, Assessment, ReliefStatus};
use hanok_client::{
    Amount, Client, ClientError, Lender, NewParcel, OpenDeal, Owner, Signer, TitleProof,
    VerifiedTitle,
};
use hanok_proto::v1;
use hanok_types::Address;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 100,000,000 KRW (억).
pub const EOK: u128 = 100_000_000;

/// A failure of the story: which step, and why.
#[derive(Debug, thiserror::Error)]
pub enum ClosingError {
    /// The endpoint could not be reached.
    #[error("cannot reach the node at {endpoint}: {reason}")]
    Connect {
        /// The URL given.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// A system contract the story needs is not on the node.
    #[error(
        "the node has no `{label}` contract created by the dev authority {authority}; \
         the story needs a node started with `hanok node --dev`"
    )]
    MissingContract {
        /// The contract label.
        label: &'static str,
        /// The dev authority's address.
        authority: Address,
    },
    /// The node or a contract refused a step.
    #[error("step {step} ({what}): {source}")]
    Call {
        /// Step number.
        step: u8,
        /// What the step was doing.
        what: &'static str,
        /// The client error.
        #[source]
        source: ClientError,
    },
    /// A step ran but the ledger does not show what it should.
    #[error("step {step}: {message}")]
    Check {
        /// Step number.
        step: u8,
        /// What differs from the expectation.
        message: String,
    },
}

type Result<T, E = ClosingError> = std::result::Result<T, E>;

/// Attaches a step number and a description to a client error.
trait StepExt<T> {
    fn step(self, step: u8, what: &'static str) -> Result<T>;
}

impl<T> StepExt<T> for std::result::Result<T, ClientError> {
    fn step(self, step: u8, what: &'static str) -> Result<T> {
        self.map_err(|source| ClosingError::Call { step, what, source })
    }
}

fn ensure(step: u8, ok: bool, message: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(ClosingError::Check {
            step,
            message: message(),
        })
    }
}

/// Where the story's progress goes: `hanok demo` prints it; tests collect it.
pub trait Narrator {
    /// A new step starts.
    fn step(&mut self, number: u8, title: &str);
    /// A detail of the current step.
    fn line(&mut self, text: &str);
}

/// Prints the story to stdout.
#[derive(Debug, Default)]
pub struct Stdout;

impl Narrator for Stdout {
    fn step(&mut self, number: u8, title: &str) {
        println!("\n[{number}] {title}");
    }
    fn line(&mut self, text: &str) {
        println!("    {text}");
    }
}

/// Collects the story as lines.
impl Narrator for Vec<String> {
    fn step(&mut self, number: u8, title: &str) {
        self.push(format!("[{number}] {title}"));
    }
    fn line(&mut self, text: &str) {
        self.push(format!("    {text}"));
    }
}

/// The people of the story, with the dev keys of `hanok node --dev` (seeds `hanok-dev/<name>`).
/// Dev keys only: a seed a person can remember is not a secret.
#[derive(Debug, Clone)]
pub struct Actors {
    /// The registry authority (created the system contracts; proposes the dev chain's blocks).
    pub authority: Signer,
    /// Registry officials; the dev registry approves transfers 2 of 3.
    pub officials: [Signer; 3],
    /// The seller's bank, holding the old mortgage.
    pub bank_a: Signer,
    /// The buyer's bank: issues deposit tokens and the new mortgage.
    pub bank_b: Signer,
    /// The broker who opens the deal.
    pub broker: Signer,
    /// Owner of the parcel (with the spouse, half each).
    pub seller: Signer,
    /// The seller's spouse, co-owner of the flat.
    pub spouse: Signer,
    /// The flat's registered tenant.
    pub tenant: Signer,
    /// Buyer of the parcel.
    pub buyer: Signer,
    /// Sets the acquisition-tax rates.
    pub tax_official: Signer,
    /// The municipality: receives the acquisition tax.
    pub city: Signer,
}

impl Actors {
    /// The dev keys.
    pub fn dev() -> Actors {
        let s = Signer::dev;
        Actors {
            authority: s("authority"),
            officials: [s("official-1"), s("official-2"), s("official-3")],
            bank_a: s("bank-a"),
            bank_b: s("bank-b"),
            broker: s("broker"),
            seller: s("seller"),
            spouse: s("spouse"),
            tenant: s("tenant"),
            buyer: s("buyer"),
            tax_official: s("tax-official"),
            city: s("city"),
        }
    }
}

/// The system contracts' addresses (the one definition, from `hanok-messages`).
pub type System = SystemContracts;

/// Finds the system contracts by label among the contracts `authority` created
/// (`ListContracts`, every page).
///
/// # Errors
/// [`ClosingError::Call`] if listing fails; [`ClosingError::MissingContract`].
pub async fn discover(client: &Client, authority: Address) -> Result<System> {
    let all = client.all_contracts().await.step(1, "list contracts")?;
    SystemContracts::try_from_labels(|label| {
        all.iter()
            .find(|c| c.label == label && c.creator.as_slice() == authority.0.as_slice())
            .and_then(|c| Address::from_slice(&c.address))
            .ok_or(ClosingError::MissingContract { label, authority })
    })
}

/// The figures of the sale.
#[derive(Debug, Clone)]
pub struct Terms {
    /// The first parcel id to try; the next free lot number is used if it is taken.
    pub parcel_id: String,
    /// Bank A's lien on the parcel: its registered maximum secured amount (채권최고액).
    pub lien_a: u128,
    /// What Bank A's payoff statement says is owed on the day: what settlement pays it.
    pub payoff_a: u128,
    /// The price.
    pub price: u128,
    /// Bank B's new mortgage for the buyer.
    pub new_mortgage: u128,
    /// The failed sale of step 8: how long after opening its deadline passes.
    pub failure_deadline: Duration,
    /// The keys whose signature on a block header step 9 trusts: the chain's proposers (the
    /// dev authority on a dev node; the members' node keys in a consortium).
    pub trusted_proposers: Vec<hanok_types::PublicKey>,
}

impl Default for Terms {
    fn default() -> Self {
        Terms {
            parcel_id: "1168010300-1-0123-0000".into(),
            lien_a: 3 * EOK,
            payoff_a: 25 * EOK / 10,
            price: 9 * EOK,
            new_mortgage: 6 * EOK,
            failure_deadline: Duration::from_secs(8),
            trusted_proposers: vec![*Actors::dev().authority.public_key()],
        }
    }
}

/// What the story leaves behind, for whoever wants to check it again.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The system contracts.
    pub system: System,
    /// The parcel sold.
    pub parcel_id: String,
    /// Its deal.
    pub deal_id: u64,
    /// The settlement's receipt (one transaction).
    pub settlement: v1::Receipt,
    /// The state diff `Simulate` showed for the settlement before it ran.
    pub simulated_diff: Vec<v1::StateWrite>,
    /// The title proof of the sold parcel (save it with [`TitleProof::to_json`]).
    pub title: TitleProof,
    /// What it proves.
    pub verified: VerifiedTitle,
    /// A parcel id proven NOT registered, and the verified absence.
    pub absent: (String, VerifiedTitle),
    /// Step 8: the contract's refusal of the short payoff.
    pub refused: String,
    /// Step 8: what the buyer got back from the escrow after the deadline.
    pub refunded: u128,
    /// Step 7: the sale's acquisition tax as assessed (the relief applies on a node where the
    /// buyer's person never claimed it).
    pub tax: Assessment,
    /// Step 7: the same person's second home, bought with a new key: the relief refused.
    pub second_home_tax: Assessment,
}

/// Formats KRW with thousands separators.
pub use hanok_client::format_krw as krw;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The story's connection and cast.
struct Ctx<'a> {
    client: Client,
    sys: System,
    a: Actors,
    out: &'a mut dyn Narrator,
}

impl Ctx<'_> {
    async fn parcel(&self, step: u8, id: &str) -> Result<Parcel> {
        self.client
            .registry(self.sys.registry)
            .parcel(id)
            .await
            .step(step, "read the parcel")
    }

    async fn deal(&self, step: u8, id: u64) -> Result<Deal> {
        self.client
            .deal(self.sys.deal)
            .deal(id)
            .await
            .step(step, "read the deal")
    }

    async fn balance(&self, step: u8, who: Address) -> Result<u128> {
        self.client
            .krw(self.sys.krw)
            .balance(who)
            .await
            .step(step, "read a balance")
    }

    /// The first parcel id from `base` on (lot number counting up) that the registry proves
    /// absent.
    async fn free_parcel_id(&self, step: u8, base: &str) -> Result<String> {
        // Parcel ids look like `<district>-<kind>-<lot>-<sub>`; count the lot up.
        let parts: Vec<&str> = base.split('-').collect();
        let lot: u32 = parts.get(2).and_then(|l| l.parse().ok()).unwrap_or(0);
        for n in 0..10_000u32 {
            let id = match parts.as_slice() {
                [district, kind, _, sub] => {
                    format!(
                        "{district}-{kind}-{:04}-{sub}",
                        lot.saturating_add(n) % 10_000
                    )
                }
                _ => format!("{base}-{n}"),
            };
            let proof = self
                .client
                .title_proof(self.sys.registry, &id)
                .await
                .step(step, "prove a parcel id free")?;
            if proof.value.is_none() {
                return Ok(id);
            }
        }
        Err(ClosingError::Check {
            step,
            message: format!("no free parcel id near {base}"),
        })
    }

    /// Steps 2 to 6 for one sale: register the parcel with Bank A's lien, mint the price to the
    /// buyer, propose the deal naming Bank B as the buyer's lender, the seller accepts, Bank B
    /// attaches the mortgage, fund, sign the terms, approve 2 of 3; Bank A files its payoff
    /// statement (`lien` is the registered maximum, `payoff` the debt it states).
    #[allow(clippy::too_many_arguments)]
    async fn up_to_approval(
        &mut self,
        narrate: bool,
        parcel_id: &str,
        (lien, payoff): (u128, u128),
        price: u128,
        mortgage: u128,
        deadline: u64,
        buyer: &Signer,
    ) -> Result<u64> {
        let registry = self.client.registry(self.sys.registry);
        let token = self.client.krw(self.sys.krw);
        let deals = self.client.deal(self.sys.deal);
        let (a, sys) = (&self.a, self.sys);
        let say = |step: u8, title: &str, out: &mut dyn Narrator| {
            if narrate {
                out.step(step, title);
            }
        };

        say(2, "An official registers parcel P to the seller and the spouse, half each; Bank A's mortgage lien (registered maximum 300,000,000 KRW) and the tenant's lease (deposit 200,000,000 KRW) are recorded", self.out);
        // The story's flat is co-owned; the failure of step 8 is a plain sole-owner sale.
        let owners = if narrate {
            vec![
                Owner {
                    owner: a.seller.address(),
                    share_bps: 5_000,
                },
                Owner {
                    owner: a.spouse.address(),
                    share_bps: 5_000,
                },
            ]
        } else {
            vec![Owner {
                owner: a.seller.address(),
                share_bps: 10_000,
            }]
        };
        registry
            .register_parcel(
                &a.officials[0],
                &NewParcel {
                    parcel_id: parcel_id.to_string(),
                    lot_number: "대치동 123".into(),
                    address: "서울특별시 강남구 대치동 123".into(),
                    area_m2_hundredths: 8_497,
                    land_use: LandUse::Residential,
                    owners,
                },
            )
            .await
            .step(2, "register the parcel")?;
        let lien_id = registry
            .record_lien(&a.officials[0], parcel_id, a.bank_a.address(), lien)
            .await
            .step(2, "record Bank A's lien")?;
        if narrate {
            // The tenant's lease ranks after Bank A's lien; a sale keeps it: the buyer takes
            // over the obligation to return the deposit.
            let now = unix_now();
            registry
                .record_lease(
                    &a.officials[0],
                    parcel_id,
                    a.tenant.address(),
                    LEASE_DEPOSIT,
                    (now, now.saturating_add(2 * 365 * 24 * 3600)),
                )
                .await
                .step(2, "record the tenant's lease")?;
            let p = self.parcel(2, parcel_id).await?;
            self.out.line(&format!(
                "parcel {} ({}), {} m², owners the seller and the spouse (half each), {} \
                 encumbrances: Bank A's lien, then the tenant's lease of {} until {}",
                p.parcel_id,
                p.address,
                p.area_m2_hundredths as f64 / 100.0,
                p.encumbrances.len(),
                krw(LEASE_DEPOSIT),
                day(now.saturating_add(2 * 365 * 24 * 3600))
            ));
        }

        say(
            3,
            "The tax official sets the acquisition-tax rates (취득세) with the first-home relief; Bank B mints the price and the tax in KRW deposit tokens to the buyer (cash + loan)",
            self.out,
        );
        let taxes = self.client.tax(sys.tax);
        if narrate {
            taxes
                .set_rates(
                    &a.tax_official,
                    &tax::home_bands(),
                    Some(tax::FIRST_HOME_RELIEF),
                    a.city.address(),
                )
                .await
                .step(3, "set the tax rates")?;
            self.out.line(
                "1.00 % up to 600,000,000 KRW, rising to 3.00 % at 900,000,000 KRW, 3.00 % \
                 above; a first home up to 1,200,000,000 KRW: up to 2,000,000 KRW off, once per \
                 person; paid to the city",
            );
        }
        let quote = taxes.quote(price).await.step(3, "quote the tax")?;
        let total = price.saturating_add(quote.full_tax.0);
        let before = self.balance(3, buyer.address()).await?;
        token
            .mint(&a.bank_b, buyer.address(), total)
            .await
            .step(3, "mint to the buyer")?;
        let after = self.balance(3, buyer.address()).await?;
        ensure(3, after == before.saturating_add(total), || {
            format!("buyer balance {before} + {total} minted is {after}")
        })?;
        if narrate {
            self.out.line(&format!(
                "the tax on {} is {} at {}; buyer balance: {}",
                krw(price),
                krw(quote.full_tax.0),
                percent(quote.rate_bps),
                krw(after)
            ));
        }

        say(
            4,
            "The broker proposes the deal — both owners selling, paid in three stages, Bank B as the buyer's lender; each owner accepts; Bank B attaches the 600,000,000 KRW mortgage",
            self.out,
        );
        let now = unix_now();
        let schedule = narrate.then(|| deal::Schedule {
            deposit: Amount(price / 10),
            deposit_due: now.saturating_add(24 * 3600),
            interim: Some(Amount(price * 3 / 10)),
            interim_due: Some(now.saturating_add(14 * 24 * 3600)),
            balance_due: deadline.saturating_sub(24 * 3600),
        });
        let co_sellers = if narrate {
            vec![a.spouse.address()]
        } else {
            Vec::new()
        };
        // The terms name the buyer's lender and the most it may register: no other bank can
        // put a mortgage on the buyer's new home.
        let deal_id = deals
            .open(
                &a.broker,
                &OpenDeal {
                    parcel_id: parcel_id.to_string(),
                    seller: a.seller.address(),
                    buyer: buyer.address(),
                    price,
                    deadline,
                    lender: Some(Lender {
                        bank: a.bank_b.address(),
                        max_amount: Amount(mortgage),
                    }),
                    co_sellers: co_sellers.clone(),
                    share_sale: false,
                    schedule,
                },
            )
            .await
            .step(4, "propose the deal")?;
        // A proposal binds nothing; the parcel is held only once every owner accepts.
        deals
            .accept(&a.seller, deal_id)
            .await
            .step(4, "the seller accepts")?;
        if narrate {
            let d = self.deal(4, deal_id).await?;
            ensure(4, d.status == Status::Proposed, || {
                format!("one co-owner's acceptance bound the parcel: {:?}", d.status)
            })?;
            deals
                .accept(&a.spouse, deal_id)
                .await
                .step(4, "the spouse accepts")?;
            self.out.line(
                "the seller accepts, then the spouse: only with both does the deal hold the flat",
            );
        }
        if narrate {
            match deals.attach_mortgage(&a.bank_a, deal_id, mortgage).await {
                Err(e @ ClientError::Contract { .. }) => self.out.line(&format!(
                    "Bank A, which the terms do not name, cannot attach a mortgage: {}",
                    e.contract_message().unwrap_or_default()
                )),
                Ok(_) => {
                    return Err(ClosingError::Check {
                        step: 4,
                        message: "a bank the terms do not name attached a mortgage".into(),
                    })
                }
                Err(e) => return Err(e).step(4, "attach by another bank"),
            }
        }
        deals
            .attach_mortgage(&a.bank_b, deal_id, mortgage)
            .await
            .step(4, "attach the new mortgage")?;
        if narrate {
            let d = self.deal(4, deal_id).await?;
            self.out.line(&format!(
                "deal #{} price {} deadline {} status {:?}, mortgage {} from Bank B",
                d.deal_id,
                krw(d.price.0),
                day(d.deadline),
                d.status,
                d.mortgage
                    .map_or_else(|| "none".into(), |m| krw(m.amount.0))
            ));
        }

        if narrate {
            say(
                5,
                "The buyer pays the deposit into escrow; the spouses and the buyer sign (the contract is concluded and reported); the interim payment and the balance follow",
                self.out,
            );
            staged_payments(&self.client, sys, &self.a, &mut *self.out, deal_id).await?;
        } else {
            // The price and the tax quoted when the seller accepted, in one payment.
            let d = self.deal(5, deal_id).await?;
            let due = d.total_due().map_or(total, |t| t.0);
            token
                .fund_escrow(buyer, sys.escrow, deal_id, due)
                .await
                .step(5, "fund the escrow")?;
            let terms = deals.terms(deal_id).await.step(5, "read the terms")?;
            deals
                .sign(&a.seller, deal_id, &terms)
                .await
                .step(5, "seller signs")?;
            deals
                .sign(buyer, deal_id, &terms)
                .await
                .step(5, "buyer signs")?;
        }

        say(
            6,
            "Officials approve under the registry's 2-of-3 policy",
            self.out,
        );
        deals
            .approve(&a.officials[0], deal_id)
            .await
            .step(6, "first approval")?;
        // The same official again: the contract refuses, and the deal is unchanged.
        match deals.approve(&a.officials[0], deal_id).await {
            Err(e @ ClientError::Contract { .. }) => {
                if narrate {
                    self.out.line(&format!(
                        "a second approval by the same official is refused: {}",
                        e.contract_message().unwrap_or_default()
                    ));
                }
            }
            Ok(_) => {
                return Err(ClosingError::Check {
                    step: 6,
                    message: "the same official could approve twice".into(),
                })
            }
            Err(e) => return Err(e).step(6, "approve twice"),
        }
        deals
            .approve(&a.officials[1], deal_id)
            .await
            .step(6, "second approval")?;
        let d = self.deal(6, deal_id).await?;
        ensure(6, d.status == Status::Approved, || {
            format!("deal status is {:?} after 2 of 3 approvals", d.status)
        })?;
        if narrate {
            self.out.line(&format!(
                "approvals {} → status {:?}",
                d.approvals.len(),
                d.status
            ));
        }
        // The payoff is the debt on the day, which only the lending bank can state; its
        // statement is also its consent to the discharge. It holds a day past the deadline.
        let valid_until = deadline.saturating_add(24 * 3600);
        registry
            .file_payoff(&a.bank_a, parcel_id, lien_id, payoff, valid_until)
            .await
            .step(6, "Bank A files its payoff statement")?;
        if narrate {
            self.out.line(&format!(
                "Bank A files its payoff statement for lien {lien_id}: {} owed today (registered \
                 maximum {}), valid until {}",
                krw(payoff),
                krw(lien),
                hanok_client::format_utc(valid_until)
            ));
        }
        Ok(deal_id)
    }
}

impl Ctx<'_> {
    /// The end of step 7: the same person buys a second home with a new key (the authority
    /// enrols it with the person hash of the buyer's first key); the first-home relief is
    /// refused, and the full tax goes to the city.
    async fn second_home(&mut self, base: &str, a: &Actors) -> Result<Assessment> {
        let sys = self.sys;
        let identity = self.client.identity(sys.identity);
        let person = identity
            .person(a.buyer.address())
            .await
            .step(7, "read the buyer's person hash")?
            .ok_or_else(|| ClosingError::Check {
                step: 7,
                message: "the buyer has no person hash enrolled".into(),
            })?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let new_key = Signer::new(hanok_types::SecretKey::from_seed(
            format!("hanok-demo/the buyer's new key/{nanos}").as_bytes(),
        ));
        identity
            .enrol_person(
                &a.authority,
                new_key.address(),
                &[hanok_client::Role::Citizen],
                Some(&person),
            )
            .await
            .step(7, "enrol the buyer's new key")?;
        self.out.line(&format!(
            "the same person buys a second home with a new key {}: the authority enrols it with \
             the same person hash",
            new_key.address()
        ));
        let parcel_id = self.free_parcel_id(7, &format!("{base}-s")).await?;
        let price = 5 * EOK;
        let deadline = unix_now().saturating_add(30 * 24 * 3600);
        let deal_id = self
            .up_to_approval(
                false,
                &parcel_id,
                (EOK, EOK / 2),
                price,
                3 * EOK,
                deadline,
                &new_key,
            )
            .await?;
        let city_before = self.balance(7, a.city.address()).await?;
        self.client
            .deal(sys.deal)
            .settle(&a.broker, deal_id)
            .await
            .step(7, "settle the second home")?;
        let city_paid = self
            .balance(7, a.city.address())
            .await?
            .saturating_sub(city_before);
        let d = self.deal(7, deal_id).await?;
        let tax = d.tax.ok_or_else(|| ClosingError::Check {
            step: 7,
            message: "the second home's settlement assessed no tax".into(),
        })?;
        ensure(
            7,
            tax.relief_status == ReliefStatus::AlreadyClaimed
                && tax.relief.is_zero()
                && city_paid == tax.full_tax.0,
            || format!("the second home's tax: {tax:?}, the city received {city_paid}"),
        )?;
        self.out.line(&format!(
            "second home, deal #{deal_id}, {}: tax {} at {}, {}",
            krw(price),
            krw(tax.tax.0),
            percent(tax.rate_bps),
            tax.reason
        ));
        Ok(tax)
    }
}

/// Step 5 of the story: the deposit, the three signatures (the contract is concluded and the
/// deal contract files the transaction report), then the interim payment and the balance, each
/// into escrow.
async fn staged_payments(
    client: &Client,
    sys: System,
    a: &Actors,
    out: &mut dyn Narrator,
    deal_id: u64,
) -> Result<()> {
    let token = client.krw(sys.krw);
    let deals = client.deal(sys.deal);
    let d = deals.deal(deal_id).await.step(5, "read the deal")?;
    let schedule = d.schedule.ok_or_else(|| ClosingError::Check {
        step: 5,
        message: "the story's deal has no payment schedule".into(),
    })?;
    // The balance carries the acquisition tax quoted when the sellers accepted.
    let (interim, balance) = match d.stages().as_deref() {
        Some([_, (_, interim, _), (_, balance, _)]) => (interim.0, balance.0),
        _ => {
            return Err(ClosingError::Check {
                step: 5,
                message: "the story's schedule is not deposit, interim and balance".into(),
            })
        }
    };
    token
        .fund_escrow(&a.buyer, sys.escrow, deal_id, schedule.deposit.0)
        .await
        .step(5, "pay the deposit")?;
    out.line(&format!(
        "deposit (계약금) {} paid, due by {}",
        krw(schedule.deposit.0),
        day(schedule.deposit_due)
    ));
    // Each signature states the terms it covers — price, deadline, lender, mortgage and
    // the schedule — and the contract refuses any other.
    let terms = deals.terms(deal_id).await.step(5, "read the terms")?;
    for (who, name) in [
        (&a.seller, "seller"),
        (&a.spouse, "spouse"),
        (&a.buyer, "buyer"),
    ] {
        deals
            .sign(who, deal_id, &terms)
            .await
            .step(5, "a party signs")?;
        out.line(&format!("the {name} signs"));
    }
    let report = deals.report(deal_id).await.step(5, "read the report")?;
    out.line(&format!(
        "transaction report filed by the deal contract on {} (due within 30 days, by {}): \
             status {}",
        day(report.contract_time),
        day(report.due_time),
        report.status
    ));
    token
        .fund_escrow(&a.buyer, sys.escrow, deal_id, interim)
        .await
        .step(5, "pay the interim payment")?;
    token
        .fund_escrow(&a.buyer, sys.escrow, deal_id, balance)
        .await
        .step(5, "pay the balance")?;
    out.line(&format!(
        "interim payment (중도금) {} and balance (잔금) {} with the acquisition tax {} paid; \
         escrow holds {}",
        krw(interim),
        krw(balance.saturating_sub(d.tax_due().0)),
        krw(d.tax_due().0),
        krw(token.balance(sys.escrow).await.step(5, "read a balance")?)
    ));
    let d = deals.deal(deal_id).await.step(5, "read the deal")?;
    ensure(5, d.status == Status::Signed, || {
        format!("paid in full and signed, yet the deal is {:?}", d.status)
    })?;
    Ok(())
}

/// The tenant's deposit (보증금) on the story's flat.
const LEASE_DEPOSIT: u128 = 2 * EOK;

/// `3.00 %` for 300 basis points.
fn percent(bps: u32) -> String {
    format!("{}.{:02} %", bps / 100, bps % 100)
}

/// A block time as a date, `2026-12-05`.
fn day(secs: u64) -> String {
    let full = hanok_client::format_utc(secs);
    full.split('T').next().unwrap_or(&full).to_string()
}

/// An error with its causes, as one line: a TLS failure is only visible in the causes.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Runs the whole story against the node at `endpoint` (e.g. `http://127.0.0.1:50051`),
/// telling `out` what happens. Fails at the first step that does not go as it should.
///
/// # Errors
/// [`ClosingError`], naming the step.
pub async fn run(endpoint: &str, terms: &Terms, out: &mut dyn Narrator) -> Result<Outcome> {
    run_with(endpoint, None, terms, out).await
}

/// As [`run`], over TLS for an `https://` endpoint (see [`hanok_client::Tls`]).
///
/// # Errors
/// [`ClosingError`], naming the step.
pub async fn run_with(
    endpoint: &str,
    tls: Option<&hanok_client::Tls>,
    terms: &Terms,
    out: &mut dyn Narrator,
) -> Result<Outcome> {
    let connect_err = |reason: String| ClosingError::Connect {
        endpoint: endpoint.to_string(),
        reason,
    };
    let channel = hanok_client::endpoint(endpoint, tls)
        .map_err(|e| connect_err(e.to_string()))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| connect_err(error_chain(&e)))?;
    let client = Client::from_channel(channel);
    let a = Actors::dev();

    // 1. What node is this, and where are the system contracts?
    out.step(
        1,
        "Connect; find the system contracts the registry authority deployed at genesis",
    );
    let status = client.status().await.step(1, "read the node status")?;
    out.line(&format!(
        "chain {} at height {}, node {}",
        status.chain_id, status.height, status.node_version
    ));
    let sys = discover(&client, a.authority.address()).await?;
    for (name, addr) in [
        ("identity", sys.identity),
        ("registry", sys.registry),
        ("krw", sys.krw),
        ("escrow", sys.escrow),
        ("deal", sys.deal),
        ("tax", sys.tax),
    ] {
        out.line(&format!("{name:<9} {addr}"));
    }
    let a_buyer = a.buyer.clone();
    let mut cx = Ctx {
        client,
        sys,
        a,
        out,
    };

    // 2–6. Up to an approved deal.
    let parcel_id = cx.free_parcel_id(2, &terms.parcel_id).await?;
    let deadline = unix_now().saturating_add(30 * 24 * 3600);
    let deal_id = cx
        .up_to_approval(
            true,
            &parcel_id,
            (terms.lien_a, terms.payoff_a),
            terms.price,
            terms.new_mortgage,
            deadline,
            &a_buyer,
        )
        .await?;

    // 7. Settlement: first a dry run, then the one atomic transaction.
    cx.out.step(
        7,
        "Settlement: a dry run with Simulate, then ONE atomic transaction",
    );
    let (a, sys) = (cx.a.clone(), cx.sys);
    let holders = [
        a.bank_a.address(),
        a.seller.address(),
        a.spouse.address(),
        a.buyer.address(),
        sys.escrow,
        a.city.address(),
    ];
    // The relief is once per person: on a node where this buyer already bought in an earlier
    // run of the story, it is refused.
    let claimed_before = cx
        .client
        .tax(sys.tax)
        .relief_of(a.buyer.address())
        .await
        .step(7, "read the buyer's relief")?
        .claim;
    let mut before = [0u128; 6];
    for (b, who) in before.iter_mut().zip(holders) {
        *b = cx.balance(7, who).await?;
    }
    let settle_tx = cx
        .client
        .tx_builder(&a.broker)
        .await
        .step(7, "build the settlement")?
        .execute(sys.deal, &deal::ExecuteMsg::Settle { deal_id })
        .step(7, "build the settlement")?
        .sign(&a.broker)
        .step(7, "sign the settlement")?;
    let sim = cx
        .client
        .simulate(&settle_tx)
        .await
        .step(7, "simulate the settlement")?;
    ensure(7, sim.receipt.status == v1::TxStatus::Ok as i32, || {
        format!("the dry run failed: {}", sim.receipt.error)
    })?;
    let touched = |c: Address| {
        sim.diff
            .iter()
            .filter(|w| w.contract.as_slice() == c.0.as_slice())
            .count()
    };
    cx.out.line(&format!(
        "dry run: {} state writes (registry {}, krw {}, escrow {}, deal {}), gas {}",
        sim.diff.len(),
        touched(sys.registry),
        touched(sys.krw),
        touched(sys.escrow),
        touched(sys.deal),
        sim.receipt.gas_used
    ));
    let p = cx.parcel(7, &parcel_id).await?;
    let d = cx.deal(7, deal_id).await?;
    ensure(
        7,
        p.owners.first().map(|o| o.owner) == Some(a.seller.address())
            && d.status == Status::Approved,
        || "the dry run changed committed state".into(),
    )?;
    cx.out
        .line("nothing committed: the seller still owns P, the deal is still approved");

    let settlement = cx
        .client
        .submit_and_wait_ok(&settle_tx)
        .await
        .step(7, "settle")?;
    for e in &settlement.events {
        let attrs: Vec<String> = e
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        cx.out
            .line(&format!("event {:<18} {}", e.r#type, attrs.join(" ")));
    }
    cx.out.line(&format!(
        "one transaction {} in block {}, gas used {}",
        hex_short(&settlement.tx_hash),
        settlement.height,
        settlement.gas_used
    ));
    let mut after = [0u128; 6];
    for (b, who) in after.iter_mut().zip(holders) {
        *b = cx.balance(7, who).await?;
    }
    let delta = |i: usize| after[i] as i128 - before[i] as i128;
    let signed = |d: i128| {
        let sign = if d < 0 { "-" } else { "+" };
        format!("{sign}{}", krw(d.unsigned_abs()))
    };
    cx.out.line(&format!(
        "Bank A {} (its stated payoff) | seller {} | spouse {} | buyer {} | escrow {} | city {}",
        signed(delta(0)),
        signed(delta(1)),
        signed(delta(2)),
        signed(delta(3)),
        signed(delta(4)),
        signed(delta(5))
    ));
    let d = cx.deal(7, deal_id).await?;
    let tax = d.tax.clone().ok_or_else(|| ClosingError::Check {
        step: 7,
        message: "the settlement assessed no acquisition tax".into(),
    })?;
    let expected = if claimed_before.is_some() {
        ReliefStatus::AlreadyClaimed
    } else {
        ReliefStatus::Applied
    };
    ensure(7, tax.relief_status == expected, || {
        format!(
            "relief {:?}, expected {expected:?}: {}",
            tax.relief_status, tax.reason
        )
    })?;
    cx.out.line(&format!(
        "acquisition tax on {} at {}: {}; {} → {} to the city, {} back to the buyer",
        krw(terms.price),
        percent(tax.rate_bps),
        krw(tax.full_tax.0),
        tax.reason,
        krw(tax.tax.0),
        krw(tax.relief.0)
    ));
    // The proceeds (price less the payoff) go to the co-owners by share, half each; the tax to
    // the city, the relief back to the buyer.
    let half = terms.price.saturating_sub(terms.payoff_a) / 2;
    ensure(
        7,
        delta(0) == terms.payoff_a as i128
            && delta(1) == half as i128
            && delta(2) == half as i128
            && delta(3) == tax.relief.0 as i128
            && delta(4) == -(terms.price.saturating_add(tax.full_tax.0) as i128)
            && delta(5) == tax.tax.0 as i128,
        || "the money did not move as the deal says".into(),
    )?;
    let p = cx.parcel(7, &parcel_id).await?;
    let owner = p.owners.first().map(|o| o.owner).unwrap_or_default();
    cx.out.line(&format!(
        "owner of P: {owner} (the buyer: {})",
        owner == a.buyer.address()
    ));
    // Discharged liens leave the title for the parcel's past encumbrances.
    let past: Vec<Encumbrance> = cx
        .client
        .registry(sys.registry)
        .past_encumbrances(&parcel_id, None, None)
        .await
        .step(7, "read the past encumbrances")?
        .encumbrances;
    let mut lien_a_discharged = false;
    let mut mortgage_b_active = false;
    for e in p.encumbrances.iter().chain(&past) {
        if let EncumbranceKind::Mortgage { holder, amount, .. } = &e.kind {
            cx.out.line(&format!(
                "lien rank {} holder {} maximum {} {}",
                e.rank,
                holder,
                krw(amount.0),
                if e.active { "active" } else { "discharged" }
            ));
            lien_a_discharged |= *holder == a.bank_a.address() && !e.active;
            mortgage_b_active |=
                *holder == a.bank_b.address() && e.active && amount.0 == terms.new_mortgage;
        }
    }
    let d = cx.deal(7, deal_id).await?;
    ensure(
        7,
        owner == a.buyer.address()
            && lien_a_discharged
            && mortgage_b_active
            && d.status == Status::Settled,
        || {
            format!("after settlement: owner {owner}, lien A discharged {lien_a_discharged}, mortgage B active {mortgage_b_active}, deal {:?}", d.status)
        },
    )?;
    // The sale keeps the tenant's lease: the buyer now owes the deposit back.
    let lease_kept = p.encumbrances.iter().any(|e| {
        e.active
            && matches!(&e.kind, EncumbranceKind::Lease { tenant, .. } if *tenant == a.tenant.address())
    });
    ensure(7, lease_kept, || {
        "the tenant's lease did not survive the sale".into()
    })?;
    cx.out.line(&format!(
        "the tenant's lease of {} stays on the title: the buyer takes over the deposit",
        krw(LEASE_DEPOSIT)
    ));
    let report = cx
        .client
        .deal(sys.deal)
        .report(deal_id)
        .await
        .step(7, "read the transaction report")?;
    ensure(
        7,
        report.status == deal::ReportStatus::Settled
            && report.payments.len() == 3
            && report.acquisition_tax == Some(tax.tax)
            && report.payments.iter().map(|p| p.amount.0).sum::<u128>() == terms.price,
        || format!("the report after settlement: {report:?}"),
    )?;
    cx.out.line(&format!(
        "transaction report for the municipality: deal #{}, {}, contract {} (reported that day), \
         settled {}, acquisition tax {}, payments toward the price {}",
        report.deal_id,
        krw(report.price.0),
        day(report.contract_time),
        report.settled_time.map_or_else(|| "-".into(), day),
        krw(report.acquisition_tax.map_or(0, |t| t.0)),
        report
            .payments
            .iter()
            .map(|p| format!("{} {}", p.stage, krw(p.amount.0)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let second_home_tax = cx.second_home(&terms.parcel_id, &a).await?;

    // 8. A sale that cannot close: the payoff is short, so nothing happens; after the deadline
    // the buyer takes the money back.
    cx.out.step(8, "If anything fails, settlement reverts entirely; after the deadline the buyer reclaims the escrow");
    let short_id = cx
        .free_parcel_id(8, &format!("{}-f", terms.parcel_id))
        .await?;
    let short_deadline = unix_now().saturating_add(terms.failure_deadline.as_secs().max(1));
    let lien_over_price = terms.price.saturating_add(EOK);
    let short_deal = cx
        .up_to_approval(
            false,
            &short_id,
            (lien_over_price, lien_over_price),
            terms.price,
            terms.new_mortgage,
            short_deadline,
            &a_buyer,
        )
        .await?;
    let before = (
        cx.parcel(8, &short_id).await?,
        cx.deal(8, short_deal).await?,
        cx.balance(8, a.buyer.address()).await?,
        cx.balance(8, sys.escrow).await?,
    );
    let refused = match cx.client.deal(sys.deal).settle(&a.broker, short_deal).await {
        Err(e @ ClientError::Contract { .. }) => {
            e.contract_message().unwrap_or_default().to_string()
        }
        Ok(_) => {
            return Err(ClosingError::Check {
                step: 8,
                message: "a settlement whose payoff exceeds the price went through".into(),
            })
        }
        Err(e) => return Err(e).step(8, "settle with a short payoff"),
    };
    cx.out.line(&format!(
        "lien {} > price {} → settlement refused: {refused}",
        krw(lien_over_price),
        krw(terms.price)
    ));
    let after = (
        cx.parcel(8, &short_id).await?,
        cx.deal(8, short_deal).await?,
        cx.balance(8, a.buyer.address()).await?,
        cx.balance(8, sys.escrow).await?,
    );
    ensure(8, before == after, || {
        "a refused settlement changed the parcel, the deal or a balance".into()
    })?;
    cx.out.line("parcel, deal and balances unchanged");
    let wait = short_deadline.saturating_add(1).saturating_sub(unix_now());
    cx.out.line(&format!(
        "waiting {wait} s for the deal's deadline to pass…"
    ));
    // The deadline is a block time: wait until the wall clock (which the next block's time
    // follows) is past it.
    while unix_now() <= short_deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let buyer_before = cx.balance(8, a.buyer.address()).await?;
    cx.client
        .deal(sys.deal)
        .refund(&a.buyer, short_deal)
        .await
        .step(8, "refund after the deadline")?;
    let refunded = cx
        .balance(8, a.buyer.address())
        .await?
        .saturating_sub(buyer_before);
    let d = cx.deal(8, short_deal).await?;
    ensure(
        8,
        refunded == d.total_due().map_or(terms.price, |t| t.0) && d.status == Status::Refunded,
        || format!("refund gave {refunded}, deal status {:?}", d.status),
    )?;
    cx.out.line(&format!(
        "the buyer is refunded {}; deal status {:?}",
        krw(refunded),
        d.status
    ));

    // 9. Anyone with read access proves the title against a signed, committed block header.
    cx.out.step(
        9,
        "Title proof: P's title against a signed block header, checked on the client",
    );
    let title = cx
        .client
        .title_proof(sys.registry, &parcel_id)
        .await
        .step(9, "fetch the title proof")?;
    let (_, trusted) = cx
        .client
        .block(title.height)
        .await
        .step(9, "fetch the header to trust")?;
    let verified = title
        .verify_against_header(&trusted)
        .step(9, "verify against the header")?;
    let verified_sig = title
        .verify_signed_by_any(&terms.trusted_proposers)
        .step(9, "verify the proposer's signature")?;
    ensure(9, verified == verified_sig, || "two checks disagree".into())?;
    let proven: Parcel = verified.parcel.clone().ok_or_else(|| ClosingError::Check {
        step: 9,
        message: "the proof says P is not registered".into(),
    })?;
    let proven_owner = proven.owners.first().map(|o| o.owner).unwrap_or_default();
    ensure(9, proven_owner == a.buyer.address(), || {
        format!("the proof shows owner {proven_owner}, not the buyer")
    })?;
    cx.out.line(&format!(
        "block {} (header {}) state root {}: owner {} — proof checked, signed by the proposer",
        verified.height,
        hex_short(&verified.header_hash.0),
        hex_short(&verified.state_root.0),
        proven_owner
    ));
    let absent_id = cx.free_parcel_id(9, "9999999999-9-0000-0000").await?;
    let absent = cx
        .client
        .title_proof(sys.registry, &absent_id)
        .await
        .step(9, "fetch an absence proof")?
        .verify()
        .step(9, "verify the absence proof")?;
    ensure(9, absent.parcel.is_none(), || {
        format!("{absent_id} is registered")
    })?;
    cx.out.line(&format!(
        "and {absent_id} is proven NOT registered at block {}",
        absent.height
    ));

    Ok(Outcome {
        system: sys,
        parcel_id,
        deal_id,
        settlement,
        simulated_diff: sim.diff,
        title,
        verified,
        absent: (absent_id, absent),
        refused,
        refunded,
        tax,
        second_home_tax,
    })
}

fn hex_short(bytes: &[u8]) -> String {
    let h: String = bytes.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{h}…")
}
