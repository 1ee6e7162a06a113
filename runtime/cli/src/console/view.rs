//! What the console's pages show, read from the node and put in words: a deal with its parcel,
//! parties, encumbrances and the checks an official makes before signing; a parcel's title;
//! the effect of settlement from a dry run. Everything here is read-only.

use super::i18n::{Lang, Text};
use super::App;
use anyhow::{Context, Result};
use hanok_client::messages::deal::{Deal, Stage, Status};
use hanok_client::messages::escrow;
use hanok_client::messages::registry::{EncumbranceKind, HistoryEntry, Parcel, Policy};
use hanok_client::{v1, TxBuilder};
use hanok_types::Address;
use std::collections::HashMap;

/// The most deals the queue lists (the oldest first); the page says when there are more.
pub const QUEUE_MAX: usize = 200;

/// An account as a person reads it: its did:key when the node knows its key, its roles.
#[derive(Clone, Debug)]
pub struct Party {
    /// `did:key:…`, or the address when the node has not seen the key.
    pub id: String,
    /// The 0x address.
    pub address: String,
    /// Its roles, comma-separated (`official, bank`), or empty.
    pub roles: String,
}

/// One check an official makes before signing, and whether it passes.
#[derive(Clone, Debug)]
pub struct Check {
    /// A stable name, for tests and scripts (`no-seizure`, `payoffs`, …).
    pub key: &'static str,
    /// What is checked.
    pub label: &'static str,
    /// Whether it passes.
    pub passed: bool,
    /// The figures behind it.
    pub detail: String,
}

/// An encumbrance row: rank, kind, holder, the registered amount and the payoff it needs.
#[derive(Clone, Debug)]
pub struct EncRow {
    /// Rank.
    pub rank: u64,
    /// Mortgage or seizure, in words.
    pub kind: &'static str,
    /// Its holder (a bank), or the court order hash.
    pub holder: String,
    /// Registered amount (mortgages: the registered maximum; leases: the deposit).
    pub amount: String,
    /// What settlement pays off (mortgages: the bank's payoff statement, or that there is
    /// none); what happens to a lease.
    pub payoff: String,
}

/// A deal as the queue and the deal page show it.
#[derive(Clone, Debug)]
pub struct DealView {
    /// Deal id.
    pub id: u64,
    /// Status, in words.
    pub status: String,
    /// Whether it is waiting for approvals (the only state an official acts in).
    pub awaiting: bool,
    /// Parcel id.
    pub parcel_id: String,
    /// Lot number.
    pub lot_number: String,
    /// Street address.
    pub address: String,
    /// Area, `84.97 m²`.
    pub area: String,
    /// Land use.
    pub land_use: String,
    /// Price in won.
    pub price: String,
    /// Seller, buyer, broker.
    pub seller: Party,
    /// The other co-owners selling with the seller, if any.
    pub co_sellers: Vec<Party>,
    /// In a share sale, the share sold (`66.67 %`).
    pub share: Option<String>,
    /// Buyer.
    pub buyer: Party,
    /// Broker.
    pub broker: Party,
    /// With a schedule: each stage, its amount, when due and whether paid.
    pub stages: Vec<String>,
    /// The acquisition tax, quoted or as assessed, in words, if any.
    pub tax: Option<String>,
    /// The buyer's new mortgage, in words, if any.
    pub new_mortgage: Option<String>,
    /// Encumbrances in rank order.
    pub encumbrances: Vec<EncRow>,
    /// `1 / 2`.
    pub approvals: String,
    /// Who approved, in order.
    pub approvers: Vec<Party>,
    /// Deadline, in the official's time zone.
    pub deadline: String,
    /// The checks, each passed or failed.
    pub checks: Vec<Check>,
    /// Whether every check passes.
    pub all_passed: bool,
    /// Why it was rejected, if it was.
    pub rejection: Option<String>,
}

/// A parcel's title as the parcel page shows it.
#[derive(Clone, Debug)]
pub struct ParcelView {
    /// Parcel id.
    pub parcel_id: String,
    /// Lot number.
    pub lot_number: String,
    /// Street address.
    pub address: String,
    /// Area.
    pub area: String,
    /// Land use.
    pub land_use: String,
    /// Whether a seizure freezes it, in words.
    pub frozen: String,
    /// Owners with their shares.
    pub owners: Vec<(Party, String)>,
    /// Encumbrances in rank order.
    pub encumbrances: Vec<EncRow>,
    /// The latest history entries, newest first: seq, block, time, action, detail.
    pub history: Vec<(u64, u64, String, String, String)>,
    /// The accepted deal holding it, if any.
    pub live_deal: Option<u64>,
}

/// What settlement would do, from the dry run.
#[derive(Clone, Debug)]
pub struct Effect {
    /// Set when the dry run's settlement fails: the node's reason.
    pub error: Option<String>,
    /// One line per transfer, discharge, title move and new lien.
    pub lines: Vec<String>,
}

/// Reads and words things for one request in one language.
pub struct Reader<'a> {
    app: &'a App,
    lang: Lang,
    t: &'static Text,
    parties: HashMap<Address, Party>,
    /// The latest block's time, read once per request.
    now: Option<u64>,
}

impl<'a> Reader<'a> {
    /// A reader for `lang`.
    pub fn new(app: &'a App, lang: Lang) -> Reader<'a> {
        Reader {
            app,
            lang,
            t: lang.text(),
            parties: HashMap::new(),
            now: None,
        }
    }

    /// The latest block's time (what deadlines are compared with).
    async fn now(&mut self) -> u64 {
        if let Some(n) = self.now {
            return n;
        }
        let n = self
            .app
            .client
            .status()
            .await
            .map_or(0, |s| s.latest_block_time);
        self.now = Some(n);
        n
    }

    /// `address` as a party: its did:key and roles (asked once per request).
    pub async fn party(&mut self, address: Address) -> Party {
        if let Some(p) = self.parties.get(&address) {
            return p.clone();
        }
        let p = match self.app.client.account(address).await {
            Ok(a) => Party {
                id: a.did.unwrap_or_else(|| address.to_string()),
                address: address.to_string(),
                roles: roles_words(self.lang, &a.roles),
            },
            Err(_) => Party {
                id: address.to_string(),
                address: address.to_string(),
                roles: String::new(),
            },
        };
        self.parties.insert(address, p.clone());
        p
    }

    /// The registry policy.
    pub async fn policy(&self) -> Result<Policy> {
        self.app
            .client
            .registry(self.app.sys.registry)
            .policy()
            .await
            .context("reading the registry policy")
    }

    /// Up to [`QUEUE_MAX`] deals awaiting approval, oldest first, and whether there are more.
    pub async fn queue(&mut self) -> Result<(Vec<DealView>, bool)> {
        let policy = self.policy().await?;
        let deal = self.app.client.deal(self.app.sys.deal);
        let mut deals: Vec<Deal> = Vec::new();
        let mut after = None;
        let more = loop {
            let page = deal
                .awaiting_approval(after, Some(50))
                .await
                .context("reading the deals awaiting approval")?;
            let Some(last) = page.last() else {
                break false;
            };
            after = Some(last.deal_id);
            deals.extend(page);
            if deals.len() >= QUEUE_MAX {
                deals.truncate(QUEUE_MAX);
                break true;
            }
        };
        let mut out = Vec::with_capacity(deals.len());
        for d in deals {
            out.push(self.deal_view(d, &policy).await?);
        }
        Ok((out, more))
    }

    /// Deal `id` in words.
    pub async fn deal(&mut self, id: u64) -> Result<(DealView, Deal, Policy)> {
        let policy = self.policy().await?;
        let d = self
            .app
            .client
            .deal(self.app.sys.deal)
            .deal(id)
            .await
            .with_context(|| format!("reading deal {id}"))?;
        let view = self.deal_view(d.clone(), &policy).await?;
        Ok((view, d, policy))
    }

    async fn deal_view(&mut self, d: Deal, policy: &Policy) -> Result<DealView> {
        let lang = self.lang;
        let t = self.t;
        let parcel = self
            .app
            .client
            .registry(self.app.sys.registry)
            .parcel(&d.parcel_id)
            .await
            .with_context(|| format!("reading parcel {}", d.parcel_id))?;
        let held = self.escrow_held(d.deal_id).await;
        let now = self.now().await;

        let seizure = parcel.frozen
            || parcel
                .encumbrances
                .iter()
                .any(|e| e.active && matches!(e.kind, EncumbranceKind::Seizure { .. }));
        // What settlement would pay each bank: its payoff statement, which must exist and
        // still hold (the contract refuses otherwise, naming the bank).
        let mut payoff = 0u128;
        let mut unstated = Vec::new();
        for e in parcel.encumbrances.iter().filter(|e| e.active) {
            if let EncumbranceKind::Mortgage {
                holder, payoff: p, ..
            } = &e.kind
            {
                let why = match p {
                    Some(p) if p.valid_until >= now => {
                        payoff = payoff.saturating_add(p.amount.0);
                        continue;
                    }
                    Some(_) => t.payoff_expired,
                    None => t.payoff_missing,
                };
                unstated.push(format!("{why}: {}", self.named(&holder.to_string()).await));
            }
        }
        let price = d.price.0;
        // What the escrow must hold: the price and the quoted tax.
        let due = d.total_due().map_or(u128::MAX, |a| a.0);
        let signed = d.signed_terms == Some(d.terms()) && d.fully_signed();
        let mine = d.approvals.contains(&self.app.me);
        // The sellers still own what they sell: the whole parcel (every owner is a seller, no
        // one else owns a share) or, in a share sale, the share as accepted.
        let sole = if d.share_sale {
            parcel
                .owners
                .iter()
                .any(|o| o.owner == d.seller && Some(o.share_bps) == d.share_bps)
        } else {
            parcel.owners.len() == d.sellers().count()
                && d.sellers()
                    .all(|s| parcel.owners.iter().any(|o| o.owner == s))
        };
        let held_text = held.map_or_else(|| lang.won(0), |h| lang.won(h));
        let checks = vec![
            Check {
                key: "no-seizure",
                label: t.check_no_seizure,
                passed: !seizure,
                detail: if seizure {
                    t.frozen_yes.to_string()
                } else {
                    String::new()
                },
            },
            Check {
                key: "payoffs",
                label: t.check_payoffs,
                passed: unstated.is_empty() && payoff <= price,
                detail: if unstated.is_empty() {
                    format!("{} ≤ {}", lang.won(payoff), lang.won(price))
                } else {
                    unstated.join("; ")
                },
            },
            Check {
                key: "escrow",
                label: t.check_escrow,
                passed: held.is_some_and(|h| h >= due),
                detail: format!("{held_text} / {}", lang.won(due)),
            },
            Check {
                key: "signed",
                label: t.check_signed,
                passed: signed,
                detail: format!("{} / 2", d.signatures.len()),
            },
            Check {
                key: "not-approved-by-me",
                label: t.check_not_mine,
                passed: !mine,
                detail: String::new(),
            },
            Check {
                key: "deadline",
                label: t.check_deadline,
                passed: now <= d.deadline,
                detail: lang.time(d.deadline),
            },
            Check {
                key: "owner",
                label: t.check_owner,
                passed: sole,
                detail: String::new(),
            },
        ];
        let all_passed = checks.iter().all(|c| c.passed);
        let mut approvers = Vec::with_capacity(d.approvals.len());
        for a in &d.approvals {
            approvers.push(self.party(*a).await);
        }
        let new_mortgage = match d.mortgage {
            Some(m) => {
                let bank = self.party(m.bank).await;
                Some(format!("{} · {}", lang.won(m.amount.0), bank.id))
            }
            None => None,
        };
        let encumbrances = self.encumbrances(&parcel).await;
        let mut co_sellers = Vec::with_capacity(d.co_sellers.len());
        for c in &d.co_sellers {
            co_sellers.push(self.party(*c).await);
        }
        let share = d.share_bps.map(percent);
        let mut stages = Vec::new();
        // The stages as the buyer pays them: the balance carries the quoted tax.
        let schedule = match d.schedule {
            Some(_) => d.stages().unwrap_or_default(),
            None => Vec::new(),
        };
        let tax = match (&d.tax, &d.tax_quote) {
            (Some(a), _) => Some(format!(
                "{} {} ({} × {}, {} −{}: {})",
                lang.won(a.tax.0),
                t.tax_paid,
                lang.won(price),
                percent(a.rate_bps),
                t.tax_relief,
                lang.won(a.relief.0),
                a.reason
            )),
            (None, Some(q)) => Some(format!(
                "{} ({}; {})",
                lang.won(q.full_tax.0),
                percent(q.rate_bps),
                t.tax_quoted
            )),
            (None, None) => None,
        };
        for (i, (stage, amount, at)) in schedule.into_iter().enumerate() {
            let name = match stage {
                Stage::Deposit => t.stage_deposit,
                Stage::Interim => t.stage_interim,
                Stage::Balance | Stage::Full => t.stage_balance,
            };
            let state = match d.payments.get(i) {
                Some(p) => format!("{} {}", t.stage_paid, lang.time(p.time)),
                None => format!("{} {}", t.stage_due, lang.time(at)),
            };
            stages.push(format!("{name} {} · {state}", lang.won(amount.0)));
        }
        Ok(DealView {
            id: d.deal_id,
            status: status_words(lang, d.status).to_string(),
            awaiting: d.status == Status::Signed,
            parcel_id: parcel.parcel_id.clone(),
            lot_number: parcel.lot_number.clone(),
            address: parcel.address.clone(),
            area: area(parcel.area_m2_hundredths),
            land_use: land_use_words(lang, &parcel),
            price: lang.won(price),
            seller: self.party(d.seller).await,
            co_sellers,
            share,
            buyer: self.party(d.buyer).await,
            broker: self.party(d.broker).await,
            stages,
            tax,
            new_mortgage,
            encumbrances,
            approvals: format!("{} / {}", d.approvals.len(), policy.threshold),
            approvers,
            deadline: lang.time(d.deadline),
            checks,
            all_passed,
            rejection: d.rejection_reason.clone(),
        })
    }

    async fn escrow_held(&self, deal_id: u64) -> Option<u128> {
        let q = escrow::QueryMsg::Deposit { deal_id };
        let d: escrow::Deposit = self.app.client.query(self.app.sys.escrow, &q).await.ok()?;
        d.held().map(|a| a.0)
    }

    async fn encumbrances(&mut self, parcel: &Parcel) -> Vec<EncRow> {
        let mut rows = Vec::with_capacity(parcel.encumbrances.len());
        for e in parcel.encumbrances.iter().filter(|e| e.active) {
            rows.push(match &e.kind {
                EncumbranceKind::Mortgage {
                    holder,
                    amount,
                    payoff,
                } => EncRow {
                    rank: e.rank,
                    kind: self.t.mortgage,
                    holder: self.named(&holder.to_string()).await,
                    amount: self.lang.won(amount.0),
                    payoff: match payoff {
                        Some(p) => format!(
                            "{} ({} {})",
                            self.lang.won(p.amount.0),
                            self.t.payoff_valid_until,
                            self.lang.time(p.valid_until)
                        ),
                        None => self.t.payoff_missing.to_string(),
                    },
                },
                EncumbranceKind::Lease {
                    tenant,
                    deposit,
                    term_end,
                    ..
                } => EncRow {
                    rank: e.rank,
                    kind: self.t.lease,
                    holder: self.named(&tenant.to_string()).await,
                    amount: self.lang.won(deposit.0),
                    payoff: format!("{} ({})", self.t.lease_kept, self.lang.time(*term_end)),
                },
                EncumbranceKind::Seizure { court_order_hash } => EncRow {
                    rank: e.rank,
                    kind: self.t.seizure,
                    holder: court_order_hash.clone(),
                    amount: String::new(),
                    payoff: String::new(),
                },
            });
        }
        rows.sort_by_key(|r| r.rank);
        rows
    }

    /// Parcel `id`'s title, its latest history and the deal holding it.
    pub async fn parcel(&mut self, id: &str) -> Result<ParcelView> {
        let registry = self.app.client.registry(self.app.sys.registry);
        let p = registry
            .parcel(id)
            .await
            .with_context(|| format!("reading parcel {id}"))?;
        let history: Vec<HistoryEntry> = if p.history_len > 0 {
            registry
                .history(id, Some(p.history_len.saturating_sub(20)), Some(20))
                .await
                .with_context(|| format!("reading the history of parcel {id}"))?
                .entries
        } else {
            Vec::new()
        };
        let live_deal = self
            .app
            .client
            .deal(self.app.sys.deal)
            .deal_by_parcel(id)
            .await
            .ok()
            .flatten();
        let mut owners = Vec::with_capacity(p.owners.len());
        for o in &p.owners {
            owners.push((self.party(o.owner).await, percent(o.share_bps)));
        }
        let encumbrances = self.encumbrances(&p).await;
        let lang = self.lang;
        Ok(ParcelView {
            parcel_id: p.parcel_id.clone(),
            lot_number: p.lot_number.clone(),
            address: p.address.clone(),
            area: area(p.area_m2_hundredths),
            land_use: land_use_words(lang, &p),
            frozen: if p.frozen {
                self.t.frozen_yes
            } else {
                self.t.frozen_no
            }
            .to_string(),
            owners,
            encumbrances,
            history: history
                .into_iter()
                .rev()
                .map(|e| {
                    (
                        e.seq,
                        e.height,
                        lang.time(e.time),
                        action_words(lang, e.action),
                        e.detail,
                    )
                })
                .collect(),
            live_deal,
        })
    }

    /// What settling `deal` would do once the approvals it still needs are in: a dry run of
    /// those approvals (this official's first, then other officials of the policy who have not
    /// approved) and of the settlement, each an unsigned transaction as the one who would sign
    /// it. Nothing is committed.
    pub async fn effect(&mut self, deal: &Deal, policy: &Policy) -> Result<Effect> {
        let lang = self.lang;
        let status = self
            .app
            .client
            .status()
            .await
            .context("reading the status")?;
        let builder = TxBuilder::new(status.chain_id);
        let approve = hanok_client::messages::deal::ExecuteMsg::Approve {
            deal_id: deal.deal_id,
        };
        let settle = hanok_client::messages::deal::ExecuteMsg::Settle {
            deal_id: deal.deal_id,
        };
        let need = usize::try_from(policy.threshold).unwrap_or(usize::MAX);
        let mut approvers: Vec<Address> = Vec::new();
        let mut have = deal.approvals.len();
        let candidates = std::iter::once(self.app.me).chain(policy.officials.iter().copied());
        for o in candidates {
            if have >= need {
                break;
            }
            if deal.approvals.contains(&o) || approvers.contains(&o) {
                continue;
            }
            approvers.push(o);
            have = have.saturating_add(1);
        }
        let mut txs = Vec::with_capacity(approvers.len().saturating_add(1));
        if deal.status == Status::Signed {
            for o in &approvers {
                txs.push(
                    builder
                        .clone()
                        .execute(self.app.sys.deal, &approve)?
                        .dry_run(*o)?,
                );
            }
        }
        txs.push(
            builder
                .execute(self.app.sys.deal, &settle)?
                .dry_run(self.app.me)?,
        );
        let sim = self
            .app
            .client
            .simulate_sequence(&txs)
            .await
            .context("the dry run of the settlement")?;
        // The first failing step is the reason; the settlement's receipt the effect.
        if let Some(failed) = sim
            .receipts
            .iter()
            .find(|r| r.status != v1::TxStatus::Ok as i32)
        {
            return Ok(Effect {
                error: Some(failed.error.clone()),
                lines: Vec::new(),
            });
        }
        let Some(settled) = sim.receipts.last() else {
            return Ok(Effect {
                error: Some("no receipt".into()),
                lines: Vec::new(),
            });
        };
        let mut lines = Vec::new();
        // The tax contract's event comes first in the receipt (a nested call's events precede
        // the caller's); the tax is told after the payoffs and the proceeds.
        let mut tax_lines = Vec::new();
        for e in &settled.events {
            let attr = |k: &str| {
                e.attributes
                    .iter()
                    .find(|a| a.key == k)
                    .map(|a| a.value.clone())
                    .unwrap_or_default()
            };
            let amount = |k: &str| {
                attr(k)
                    .parse::<u128>()
                    .map_or_else(|_| attr(k), |v| lang.won(v))
            };
            match e.r#type.as_str() {
                "lien_paid_off" => {
                    let holder = self.named(&attr("holder")).await;
                    lines.push(match lang {
                        Lang::En => format!(
                            "Escrow pays {holder} {} and discharges its lien (rank {}).",
                            amount("amount"),
                            attr("rank")
                        ),
                        Lang::Ko => format!(
                            "에스크로가 {holder}에게 {}을 상환하고 근저당(순위 {})을 말소합니다.",
                            amount("amount"),
                            attr("rank")
                        ),
                    });
                }
                "deal_settled" => {
                    let seller = self.named(&attr("seller")).await;
                    let buyer = self.named(&attr("buyer")).await;
                    lines.push(match lang {
                        Lang::En => {
                            format!("Escrow pays the seller {seller} {}.", amount("proceeds"))
                        }
                        Lang::Ko => format!(
                            "에스크로가 매도인 {seller}에게 {}을 지급합니다.",
                            amount("proceeds")
                        ),
                    });
                    lines.push(match lang {
                        Lang::En => format!(
                            "The title of parcel {} moves to the buyer {buyer}.",
                            deal.parcel_id
                        ),
                        Lang::Ko => format!(
                            "필지 {}의 소유권이 매수인 {buyer}에게 이전됩니다.",
                            deal.parcel_id
                        ),
                    });
                    if !attr("new_lien_holder").is_empty() {
                        let bank = self.named(&attr("new_lien_holder")).await;
                        lines.push(match lang {
                            Lang::En => format!(
                                "A new mortgage of {} held by {bank} is recorded.",
                                amount("new_lien_amount")
                            ),
                            Lang::Ko => format!(
                                "{bank}의 새 근저당 {}이 설정됩니다.",
                                amount("new_lien_amount")
                            ),
                        });
                    }
                }
                "acquisition_tax_assessed" => {
                    let city = self.named(&attr("municipality")).await;
                    let pct = attr("rate_bps")
                        .parse::<u32>()
                        .map_or_else(|_| attr("rate_bps"), percent);
                    let relief = attr("relief").parse::<u128>().unwrap_or(0);
                    tax_lines.push(match lang {
                        Lang::En => format!(
                            "Escrow pays the acquisition tax of {} ({pct} of the price) to the municipality {city}.",
                            amount("tax")
                        ),
                        Lang::Ko => format!(
                            "에스크로가 취득세 {}(매매대금의 {pct})을 지자체 {city}에 납부합니다.",
                            amount("tax")
                        ),
                    });
                    tax_lines.push(match (lang, relief > 0) {
                        (Lang::En, true) => format!(
                            "The first-home relief applies: {} goes back to the buyer.",
                            lang.won(relief)
                        ),
                        (Lang::Ko, true) => format!(
                            "생애최초 감면이 적용되어 {}이 매수인에게 반환됩니다.",
                            lang.won(relief)
                        ),
                        (_, false) => attr("reason"),
                    });
                }
                _ => {}
            }
        }
        lines.extend(tax_lines);
        Ok(Effect { error: None, lines })
    }

    /// An address from an event attribute, as its did:key (and roles) when known.
    async fn named(&mut self, address: &str) -> String {
        match address.parse::<Address>() {
            Ok(a) => {
                let p = self.party(a).await;
                if p.roles.is_empty() {
                    p.id
                } else {
                    format!("{} ({})", p.id, p.roles)
                }
            }
            Err(_) => address.to_string(),
        }
    }
}

/// A history entry's action in words.
fn action_words(lang: Lang, action: hanok_client::messages::registry::Action) -> String {
    use hanok_client::messages::registry::Action;
    match lang {
        Lang::En => serde_json::to_value(action)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
        Lang::Ko => match action {
            Action::Registered => "등록",
            Action::LienRecorded => "근저당 설정",
            Action::LienDischarged => "근저당 말소",
            Action::Frozen => "압류",
            Action::Unfrozen => "압류 해제",
            Action::TitleTransferred => "소유권 이전",
            Action::ShareTransferred => "지분 이전",
            Action::LeaseRecorded => "전세권 설정",
            Action::LeaseDischarged => "전세권 말소",
            Action::PayoffFiled => "상환금액 확인서 제출",
        }
        .to_string(),
    }
}

use crate::cmd::percent;

/// Roles in the page's language, comma-separated.
pub fn roles_words(lang: Lang, roles: &[String]) -> String {
    roles
        .iter()
        .map(|r| match (lang, r.as_str()) {
            (Lang::Ko, "authority") => "등기 당국",
            (Lang::Ko, "official") => "등기관",
            (Lang::Ko, "bank") => "은행",
            (Lang::Ko, "broker") => "중개사",
            (Lang::Ko, "citizen") => "시민",
            (Lang::Ko, "deployer") => "배포자",
            (Lang::Ko, "tax-official") => "세무 공무원",
            (Lang::Ko, "municipality") => "지자체",
            (_, other) => other,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn area(hundredths: u64) -> String {
    format!("{}.{:02} m²", hundredths / 100, hundredths % 100)
}

fn land_use_words(lang: Lang, p: &Parcel) -> String {
    use hanok_client::LandUse;
    let ko = match p.land_use {
        LandUse::Residential => "대지 (주거)",
        LandUse::Commercial => "상업",
        LandUse::Industrial => "공업",
        LandUse::Agricultural => "농지",
        LandUse::Forest => "임야",
        LandUse::Other => "기타",
    };
    match lang {
        Lang::Ko => ko.to_string(),
        Lang::En => p.land_use.to_string(),
    }
}

/// A deal status in words.
pub fn status_words(lang: Lang, s: Status) -> &'static str {
    match lang {
        Lang::En => s.as_str(),
        Lang::Ko => match s {
            Status::Proposed => "제안됨",
            Status::Open => "수락됨",
            Status::Funded => "대금 예치됨",
            Status::Signed => "승인 대기",
            Status::Approved => "승인됨",
            Status::Settled => "결제 완료",
            Status::Cancelled => "취소됨",
            Status::Rejected => "거절됨",
            Status::Expired => "기한 만료",
            Status::Refunded => "환불됨",
        },
    }
}
