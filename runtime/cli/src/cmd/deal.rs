//! `hanok deal ...`: the deal (title-transfer) contract, and the escrow funding through the
//! KRW token.

use super::{krw, parse_address, parse_amount, print_json, print_receipt, refused, utc, Ctx};
use anyhow::{Context, Result};
use clap::Subcommand;
use hanok_client::messages::deal::{Deal, DealsResponse, ExecuteMsg};
use hanok_client::{Amount, Lender, OpenDeal, SignedTerms};
use hanok_types::Address;
use std::time::{SystemTime, UNIX_EPOCH};

/// A deadline: Unix seconds, or `+DURATION` from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Unix seconds of block time.
    At(u64),
    /// Seconds from now.
    In(u64),
}

pub(crate) fn parse_deadline(s: &str) -> Result<Deadline, String> {
    let bad = || {
        format!(
            "`{s}` is not a deadline: give Unix seconds (e.g. 1767312000) or a duration from \
             now: +90s, +30m, +12h, +7d"
        )
    };
    let t = s.trim();
    let Some(rel) = t.strip_prefix('+') else {
        return t.parse::<u64>().map(Deadline::At).map_err(|_| bad());
    };
    let (digits, unit) = match rel.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => rel.split_at(i),
        None => (rel, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).map(Deadline::In).ok_or_else(bad)
}

// Parsed once per process: the size of the largest variant (`open` with its schedule flags)
// costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum DealCmd {
    /// Propose a deal (an enrolled broker): the seller must be the parcel's sole owner and the
    /// parcel not frozen nor held by another deal. It binds nothing until the seller accepts.
    /// Prints the deal id.
    Open {
        /// The parcel for sale.
        #[arg(long, value_name = "ID")]
        parcel: String,
        /// The seller: the parcel's sole owner; or one of its co-owners selling it whole (name
        /// the others with --co-seller); or, with --share-sale, the co-owner selling their share.
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        seller: Address,
        /// Another co-owner selling the whole parcel with --seller (repeat for each): the
        /// sellers must be exactly the parcel's owners; each accepts, signs and is paid by share.
        #[arg(long = "co-seller", value_name = "ADDR", value_parser = parse_address)]
        co_sellers: Vec<Address>,
        /// Sell only --seller's share of a co-owned parcel: the other owners keep theirs, the
        /// parcel's liens stay, and no new mortgage is taken (no --lender).
        #[arg(long, conflicts_with_all = ["co_sellers", "lender"])]
        share_sale: bool,
        /// The buyer.
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        buyer: Address,
        /// The price, KRW.
        #[arg(long, value_name = "KRW", value_parser = parse_amount)]
        price: u128,
        /// Settlement deadline: Unix seconds of block time, or a duration from now such as
        /// +7d, +12h, +30m, +90s; at most the registry policy's bound ahead (365 days unless
        /// the authority set another).
        #[arg(long, value_name = "WHEN", value_parser = parse_deadline)]
        deadline: Deadline,
        /// The buyer's lender: the only bank that may attach the buyer's new mortgage.
        #[arg(long, value_name = "ADDR", value_parser = parse_address, requires = "max_mortgage")]
        lender: Option<Address>,
        /// The most the lender may register, KRW.
        #[arg(long, value_name = "KRW", value_parser = parse_amount, requires = "lender")]
        max_mortgage: Option<u128>,
        /// Pay in stages: the deposit (계약금), KRW. Needs --deposit-due and --balance-due;
        /// the balance (잔금) is the rest of the price.
        #[arg(long, value_name = "KRW", value_parser = parse_amount, requires_all = ["deposit_due", "balance_due"])]
        deposit: Option<u128>,
        /// When the deposit falls due (Unix seconds or +DURATION).
        #[arg(long, value_name = "WHEN", value_parser = parse_deadline, requires = "deposit")]
        deposit_due: Option<Deadline>,
        /// The interim payment (중도금), KRW, optional; needs --interim-due.
        #[arg(long, value_name = "KRW", value_parser = parse_amount, requires_all = ["interim_due", "deposit"])]
        interim: Option<u128>,
        /// When the interim payment falls due.
        #[arg(long, value_name = "WHEN", value_parser = parse_deadline, requires = "interim")]
        interim_due: Option<Deadline>,
        /// When the balance falls due (at most the deadline).
        #[arg(long, value_name = "WHEN", value_parser = parse_deadline, requires = "deposit")]
        balance_due: Option<Deadline>,
    },
    /// Accept a proposed deal (the seller; with co-sellers, each of them): once every seller
    /// has, the deal holds the parcel, until it ends or its deadline passes.
    Accept {
        /// Deal id.
        deal_id: u64,
    },
    /// Attach the buyer's new mortgage (the lender the deal names, up to its maximum, before
    /// anyone signs): recorded as a lien held by that bank when the deal settles.
    AttachMortgage {
        /// Deal id.
        deal_id: u64,
        /// Secured amount, KRW.
        #[arg(long, value_name = "KRW", value_parser = parse_amount)]
        amount: u128,
    },
    /// Fund the deal's escrow with its price (the buyer), in KRW deposit tokens: a token
    /// `send` of the price to the escrow contract.
    Fund {
        /// Deal id.
        deal_id: u64,
    },
    /// Sign the agreement (the seller or the buyer, after funding): reads the deal's terms
    /// (price, deadline, lender, mortgage), prints them and signs exactly those.
    Sign {
        /// Deal id.
        deal_id: u64,
    },
    /// Approve the transfer (an official of the registry's policy, after both signatures).
    Approve {
        /// Deal id.
        deal_id: u64,
    },
    /// Reject the transfer (an official of the registry's policy), saying why; the reason is
    /// recorded on the deal for the parties, and the buyer may then refund.
    Reject {
        /// Deal id.
        deal_id: u64,
        /// Why, for the parties: required, non-empty, at most 500 bytes (stored trimmed).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Settle, in ONE atomic transaction (a party to the deal or an official; approved, before
    /// the deadline): liens paid off and discharged, the seller paid, the title moved to the
    /// buyer, the new mortgage recorded. If anything fails nothing changes.
    Settle {
        /// Deal id.
        deal_id: u64,
    },
    /// Walk away from a staged deal under the earnest-money rule, before the interim payment:
    /// the buyer forfeits the deposit to the seller; a seller pays in as much again as the
    /// deposit and the buyer receives it doubled.
    Withdraw {
        /// Deal id.
        deal_id: u64,
    },
    /// Agree to end a deal that has payments (the buyer and each seller; when all have,
    /// everything paid goes back to the buyer).
    AgreeCancel {
        /// Deal id.
        deal_id: u64,
    },
    /// End a staged deal whose buyer missed a payment's due time (the broker, a seller or the
    /// buyer): the deposit goes to the seller as the penalty, the rest back to the buyer.
    ClaimDefault {
        /// Deal id.
        deal_id: u64,
    },
    /// Cancel a deal that is not funded yet (the broker, seller or buyer).
    Cancel {
        /// Deal id.
        deal_id: u64,
    },
    /// Reclaim the escrow (the buyer): after a rejection or once the deadline has passed.
    Refund {
        /// Deal id.
        deal_id: u64,
    },
    /// Show a deal: parties, price, deadline, status, signatures, approvals.
    Show {
        /// Deal id.
        deal_id: u64,
    },
    /// Show the accepted deal holding a parcel, if any.
    ByParcel {
        /// Parcel id.
        parcel: String,
    },
    /// List the deals awaiting the officials' approval (both parties signed, the policy's
    /// threshold not reached yet), oldest first: id, parcel, price, approvals, deadline. A
    /// deal past its deadline stays listed until it is refunded or expired; approving it fails.
    Queue {
        /// Start after this deal id (paging).
        #[arg(long, value_name = "ID")]
        after: Option<u64>,
        /// Most deals to show (the deal contract returns at most 50, 20 by default).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Show a deal's transaction report (부동산 거래신고): parcel, price, contract date, parties,
    /// payments, settlement. The deal contract files it itself when both parties have signed,
    /// completes it at settlement and marks it cancelled if the sale falls through.
    Report {
        /// Deal id.
        deal_id: u64,
    },
    /// List transaction reports in deal id order (what the municipality reads): deal, parcel,
    /// price, status, contract date, settlement date.
    Reports {
        /// Start after this deal id (paging).
        #[arg(long, value_name = "ID")]
        after: Option<u64>,
        /// Most reports to show (the deal contract returns at most 50, 20 by default).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Then keep watching: print each report as it is filed or changes (the deal
        /// contract's `transaction_reported` events, streamed from the next block on), until
        /// Ctrl-C or the node goes away.
        #[arg(long)]
        follow: bool,
    },
}

/// `deal withdraw`: the buyer forfeits the deposit (`withdraw`); a seller pays in the deposit
/// again through the escrow (`{"withdraw": ..}` sent with the KRW token), which pays the buyer
/// both.
async fn withdraw(ctx: &mut Ctx, deal_addr: Address, deal_id: u64) -> Result<()> {
    let signer = ctx.signer()?;
    let d = ctx
        .client
        .deal(deal_addr)
        .deal(deal_id)
        .await
        .map_err(refused(format!("reading deal {deal_id}")))?;
    let me = signer.address();
    let r = if me == d.buyer {
        ctx.client
            .execute(&signer, deal_addr, &ExecuteMsg::Withdraw { deal_id })
            .await
            .map_err(refused(format!("withdraw from deal {deal_id}")))?
    } else if d.sellers().any(|s| s == me) {
        let deposit: u128 = d.payments.iter().map(|p| p.amount.0).sum();
        let escrow = ctx.escrow().await?;
        let token = ctx.krw().await?;
        if !ctx.node.json {
            println!(
                "paying in {} (the deposit again): the buyer receives it doubled",
                krw(deposit)
            );
        }
        ctx.client
            .krw(token)
            .withdraw_as_seller(&signer, escrow, deal_id, deposit)
            .await
            .map_err(refused(format!("withdraw from deal {deal_id}")))?
    } else {
        anyhow::bail!("{me} is neither the buyer nor a seller of deal {deal_id}");
    };
    if !ctx.node.json {
        println!("deal {deal_id}: withdrawn under the earnest-money rule");
    }
    print_receipt(ctx, &r)
}

/// One line of `deal reports`.
fn print_report_line(r: &hanok_client::messages::deal::TransactionReport) {
    println!(
        "deal {:<5} parcel {:<24} {:>22}  {:<10} contract {}  settled {}",
        r.deal_id,
        r.parcel_id,
        krw(r.price.0),
        r.status.as_str(),
        utc(r.contract_time),
        r.settled_time.map_or_else(|| "-".to_string(), utc)
    );
}

/// `deal reports --follow`: prints each report the deal contract files or changes from block
/// `from` on (JSON lines with `--json`), until the stream ends.
async fn follow_reports(ctx: &Ctx, deal_addr: Address, from: u64) -> Result<()> {
    use std::io::Write;
    let mut stream = ctx
        .client
        .stream_events(from, Some(deal_addr), Some("transaction_reported"))
        .await
        .map_err(refused("streaming the transaction reports"))?;
    while let Some(env) = stream
        .message()
        .await
        .context("the node's event stream failed")?
    {
        let Some(deal_id) = env.event.as_ref().and_then(|e| {
            e.attributes
                .iter()
                .find(|a| a.key == "deal_id")
                .and_then(|a| a.value.parse::<u64>().ok())
        }) else {
            continue;
        };
        let r = ctx
            .client
            .deal(deal_addr)
            .report(deal_id)
            .await
            .map_err(refused(format!(
                "reading deal {deal_id}'s transaction report"
            )))?;
        if ctx.node.json {
            println!("{}", serde_json::to_string(&r).context("formatting JSON")?);
        } else {
            print_report_line(&r);
        }
        std::io::stdout().flush().context("writing to stdout")?;
    }
    Ok(())
}

/// Prints a transaction report for people.
fn print_report(r: &hanok_client::messages::deal::TransactionReport) {
    println!("transaction report of deal {}", r.deal_id);
    println!("status        {}", r.status);
    println!("parcel        {}", r.parcel_id);
    println!("price         {}", krw(r.price.0));
    println!("seller        {}", r.seller);
    println!("buyer         {}", r.buyer);
    println!("broker        {}", r.broker);
    println!(
        "contract      {} (block {}); report due by {}, filed then",
        utc(r.contract_time),
        r.contract_height,
        utc(r.due_time)
    );
    for p in &r.payments {
        println!(
            "payment       {} {} at block {}",
            p.stage,
            krw(p.amount.0),
            p.height
        );
    }
    if let (Some(t), Some(h)) = (r.settled_time, r.settled_height) {
        println!("settled       {} (block {h})", utc(t));
    }
    if let Some(t) = r.acquisition_tax {
        println!(
            "tax           {} acquisition tax, paid to the municipality",
            krw(t.0)
        );
    }
    if let Some(t) = r.cancelled_time {
        println!("cancelled     {}", utc(t));
    }
}

/// Prints a deal for people.
fn print_deal(d: &Deal) {
    println!("deal          {}", d.deal_id);
    println!("parcel        {}", d.parcel_id);
    println!("status        {}", d.status);
    println!("price         {}", krw(d.price.0));
    println!("deadline      {} ({})", utc(d.deadline), d.deadline);
    println!("seller        {}", d.seller);
    for c in &d.co_sellers {
        println!("co-seller     {c}");
    }
    if d.share_sale {
        match d.share_bps {
            Some(bps) => println!(
                "sale          the seller's share only: {}",
                super::percent(bps)
            ),
            None => println!("sale          the seller's share only"),
        }
    }
    if !d.co_sellers.is_empty() || d.share_sale {
        println!("accepted by   {}", list(&d.accepted_by));
    }
    println!("buyer         {}", d.buyer);
    println!("broker        {}", d.broker);
    match &d.lender {
        Some(l) => println!("lender        {} (up to {})", l.bank, krw(l.max_amount.0)),
        None => println!("lender        none (no new mortgage)"),
    }
    match &d.mortgage {
        Some(m) => println!("new mortgage  {} from {}", krw(m.amount.0), m.bank),
        None => println!("new mortgage  none"),
    }
    if let Some(s) = &d.schedule {
        println!(
            "deposit       {} due {}",
            krw(s.deposit.0),
            utc(s.deposit_due)
        );
        if let (Some(a), Some(t)) = (s.interim, s.interim_due) {
            println!("interim       {} due {}", krw(a.0), utc(t));
        }
        println!("balance       due {}", utc(s.balance_due));
    }
    if let Some(q) = &d.tax_quote {
        println!(
            "tax quoted    {} at {} (취득세, paid into escrow with the last payment)",
            krw(q.full_tax.0),
            super::percent(q.rate_bps)
        );
    }
    if let Some(a) = &d.tax {
        println!(
            "tax paid      {} to {} ({} at {}, relief {}): {}",
            krw(a.tax.0),
            a.municipality,
            krw(a.full_tax.0),
            super::percent(a.rate_bps),
            krw(a.relief.0),
            a.reason
        );
    }
    for p in &d.payments {
        println!(
            "paid          {} {} at block {} ({})",
            p.stage,
            krw(p.amount.0),
            p.height,
            utc(p.time)
        );
    }
    if let Some(c) = &d.cancellation {
        println!(
            "ended         {} by {}: sellers received {}, buyer {}",
            c.kind,
            c.by,
            krw(c.to_sellers.0),
            krw(c.to_buyer.0)
        );
    }
    println!("signed by     {}", list(&d.signatures));
    println!("approved by   {}", list(&d.approvals));
    if let Some(r) = &d.rejected_by {
        println!("rejected by   {r}");
    }
    if let Some(r) = &d.rejection_reason {
        println!("reason        {r}");
    }
}

fn list(v: &[Address]) -> String {
    if v.is_empty() {
        "nobody yet".into()
    } else {
        v.iter()
            .map(Address::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub async fn run(mut ctx: Ctx, cmd: DealCmd) -> Result<()> {
    let deal_addr = ctx.deal().await?;
    match cmd {
        DealCmd::Open {
            parcel,
            seller,
            co_sellers,
            share_sale,
            buyer,
            price,
            deadline,
            lender,
            max_mortgage,
            deposit,
            deposit_due,
            interim,
            interim_due,
            balance_due,
        } => {
            let signer = ctx.signer()?;
            // The contract compares with block time; the next block is timed about now.
            let now = ctx
                .client
                .status()
                .await
                .context("asking the node for its block time")?
                .latest_block_time
                .max(now_secs());
            let at = |d: Deadline| match d {
                Deadline::At(t) => t,
                Deadline::In(secs) => now.saturating_add(secs),
            };
            let deadline = at(deadline);
            // clap makes --deposit require both due times, and --interim its own.
            let schedule = match (deposit, deposit_due, balance_due) {
                (Some(deposit), Some(deposit_due), Some(balance_due)) => {
                    Some(hanok_client::messages::deal::Schedule {
                        deposit: Amount(deposit),
                        deposit_due: at(deposit_due),
                        interim: interim.map(Amount),
                        interim_due: interim_due.map(at),
                        balance_due: at(balance_due),
                    })
                }
                _ => None,
            };
            let open = OpenDeal {
                parcel_id: parcel.clone(),
                seller,
                buyer,
                price,
                deadline,
                // clap makes each flag require the other.
                lender: lender.zip(max_mortgage).map(|(bank, max_amount)| Lender {
                    bank,
                    max_amount: Amount(max_amount),
                }),
                co_sellers,
                share_sale,
                schedule,
            };
            let id = ctx
                .client
                .deal(deal_addr)
                .open(&signer, &open)
                .await
                .map_err(refused(format!("opening a deal on parcel {parcel}")))?;
            if ctx.node.json {
                return print_json(&serde_json::json!({"deal_id": id, "deadline": deadline}));
            }
            println!(
                "deal {id} proposed on parcel {parcel}: price {}, deadline {}",
                krw(price),
                utc(deadline)
            );
            println!("next: the seller accepts it with `hanok deal accept {id} --key SELLER.key`");
            Ok(())
        }
        DealCmd::Accept { deal_id } => {
            by_id(
                &ctx,
                deal_addr,
                deal_id,
                |deal_id| ExecuteMsg::Accept { deal_id },
                ("accept", "accepted"),
            )
            .await?;
            if !ctx.node.json {
                println!(
                    "next: the buyer funds it with `hanok deal fund {deal_id} --key BUYER.key`"
                );
            }
            Ok(())
        }
        DealCmd::AttachMortgage { deal_id, amount } => {
            let signer = ctx.signer()?;
            let r = ctx
                .client
                .deal(deal_addr)
                .attach_mortgage(&signer, deal_id, amount)
                .await
                .map_err(refused(format!("attaching a mortgage to deal {deal_id}")))?;
            if !ctx.node.json {
                println!("mortgage of {} attached to deal {deal_id}", krw(amount));
            }
            print_receipt(&ctx, &r)
        }
        DealCmd::Fund { deal_id } => {
            let signer = ctx.signer()?;
            let deal = ctx
                .client
                .deal(deal_addr)
                .deal(deal_id)
                .await
                .map_err(refused(format!("reading deal {deal_id}")))?;
            // The whole price, or with a schedule the next stage's amount; the quoted
            // acquisition tax comes with the last payment.
            let price = match deal.next_stage() {
                Some((_, amount, _)) => amount.0,
                None => {
                    deal.total_due()
                        .ok_or_else(|| anyhow::anyhow!("deal {deal_id}'s price and tax overflow"))?
                        .0
                }
            };
            let escrow = ctx.escrow().await?;
            let token = ctx.krw().await?;
            let r = ctx
                .client
                .krw(token)
                .fund_escrow(&signer, escrow, deal_id, price)
                .await
                .map_err(refused(format!("funding deal {deal_id}'s escrow")))?;
            if !ctx.node.json {
                println!("deal {deal_id} funded: {} moved to the escrow", krw(price));
            }
            print_receipt(&ctx, &r)
        }
        DealCmd::Sign { deal_id } => {
            let signer = ctx.signer()?;
            let deals = ctx.client.deal(deal_addr);
            let terms = deals
                .terms(deal_id)
                .await
                .map_err(refused(format!("reading deal {deal_id}'s terms")))?;
            if !ctx.node.json {
                println!("signing deal {deal_id}: {}", describe(&terms));
            }
            let r = deals
                .sign(&signer, deal_id, &terms)
                .await
                .map_err(refused(format!("sign deal {deal_id}")))?;
            if !ctx.node.json {
                println!("deal {deal_id} signed by {}", signer.address());
            }
            print_receipt(&ctx, &r)
        }
        DealCmd::Approve { deal_id } => {
            by_id(
                &ctx,
                deal_addr,
                deal_id,
                |deal_id| ExecuteMsg::Approve { deal_id },
                ("approve", "approved"),
            )
            .await
        }
        DealCmd::Reject { deal_id, reason } => {
            let signer = ctx.signer()?;
            let r = ctx
                .client
                .deal(deal_addr)
                .reject(&signer, deal_id, &reason)
                .await
                .map_err(refused(format!("reject deal {deal_id}")))?;
            if !ctx.node.json {
                println!(
                    "deal {deal_id} rejected by {}: {}",
                    signer.address(),
                    reason.trim()
                );
            }
            print_receipt(&ctx, &r)
        }
        DealCmd::Settle { deal_id } => {
            by_id(
                &ctx,
                deal_addr,
                deal_id,
                |deal_id| ExecuteMsg::Settle { deal_id },
                ("settle", "settled"),
            )
            .await
        }
        DealCmd::Withdraw { deal_id } => withdraw(&mut ctx, deal_addr, deal_id).await,
        DealCmd::AgreeCancel { deal_id } => {
            by_id(
                &ctx,
                deal_addr,
                deal_id,
                |deal_id| ExecuteMsg::AgreeCancel { deal_id },
                ("agree to cancel", "agreed to cancel"),
            )
            .await
        }
        DealCmd::ClaimDefault { deal_id } => {
            by_id(
                &ctx,
                deal_addr,
                deal_id,
                |deal_id| ExecuteMsg::ClaimDefault { deal_id },
                (
                    "claim the buyer's default on",
                    "ended on the buyer's default",
                ),
            )
            .await
        }
        DealCmd::Cancel { deal_id } => {
            by_id(
                &ctx,
                deal_addr,
                deal_id,
                |deal_id| ExecuteMsg::Cancel { deal_id },
                ("cancel", "cancelled"),
            )
            .await
        }
        DealCmd::Refund { deal_id } => {
            by_id(
                &ctx,
                deal_addr,
                deal_id,
                |deal_id| ExecuteMsg::Refund { deal_id },
                ("refund", "refunded"),
            )
            .await
        }
        DealCmd::Show { deal_id } => {
            let d = ctx
                .client
                .deal(deal_addr)
                .deal(deal_id)
                .await
                .map_err(refused(format!("reading deal {deal_id}")))?;
            if ctx.node.json {
                return print_json(&d);
            }
            print_deal(&d);
            Ok(())
        }
        DealCmd::ByParcel { parcel } => {
            let id = ctx
                .client
                .deal(deal_addr)
                .deal_by_parcel(&parcel)
                .await
                .map_err(refused(format!("looking up the deal on parcel {parcel}")))?;
            if ctx.node.json {
                return print_json(&serde_json::json!({ "deal_id": id }));
            }
            match id {
                Some(id) => println!("parcel {parcel} is in deal {id} (`hanok deal show {id}`)"),
                None => println!("parcel {parcel} is held by no deal"),
            }
            Ok(())
        }
        DealCmd::Queue { after, limit } => {
            let deals = ctx
                .client
                .deal(deal_addr)
                .awaiting_approval(after, limit)
                .await
                .map_err(refused("listing the deals awaiting approval"))?;
            if ctx.node.json {
                return print_json(&DealsResponse { deals });
            }
            if deals.is_empty() {
                println!("no deals awaiting approval");
            }
            for d in &deals {
                println!(
                    "deal {:<5} parcel {:<24} {:>22}  approvals {:<3} deadline {}",
                    d.deal_id,
                    d.parcel_id,
                    krw(d.price.0),
                    d.approvals.len(),
                    utc(d.deadline)
                );
            }
            Ok(())
        }
        DealCmd::Report { deal_id } => {
            let r = ctx
                .client
                .deal(deal_addr)
                .report(deal_id)
                .await
                .map_err(refused(format!(
                    "reading deal {deal_id}'s transaction report"
                )))?;
            if ctx.node.json {
                return print_json(&r);
            }
            print_report(&r);
            Ok(())
        }
        DealCmd::Reports {
            after,
            limit,
            follow,
        } => {
            let from = ctx
                .client
                .status()
                .await
                .map_err(refused("reading the latest height"))?
                .height
                .saturating_add(1);
            let reports = ctx
                .client
                .deal(deal_addr)
                .reports(after, limit)
                .await
                .map_err(refused("listing the transaction reports"))?;
            if ctx.node.json {
                return print_json(&hanok_client::messages::deal::ReportsResponse { reports });
            }
            if reports.is_empty() && !follow {
                println!("no transaction reports");
            }
            for r in &reports {
                print_report_line(r);
            }
            if follow {
                follow_reports(&ctx, deal_addr, from).await?;
            }
            Ok(())
        }
    }
}

/// The terms a signature covers, for people.
fn describe(t: &SignedTerms) -> String {
    let lender = t
        .lender
        .map_or_else(|| "none".to_string(), |a| a.to_string());
    let mortgage = t
        .mortgage_amount
        .map_or_else(|| "none".to_string(), |a| krw(a.0));
    format!(
        "price {}, deadline {} ({}), lender {lender}, new mortgage {mortgage}",
        krw(t.price.0),
        utc(t.deadline),
        t.deadline
    )
}

/// Executes one of the deal's `{action: {deal_id}}` messages, `to(deal_id)`, as the signer and
/// reports it.
async fn by_id(
    ctx: &Ctx,
    deal: Address,
    deal_id: u64,
    to: fn(u64) -> ExecuteMsg,
    (action, done): (&str, &str),
) -> Result<()> {
    let msg = to(deal_id);
    let signer = ctx.signer()?;
    let r = ctx
        .client
        .execute(&signer, deal, &msg)
        .await
        .map_err(refused(format!("{action} deal {deal_id}")))?;
    if !ctx.node.json {
        println!("deal {deal_id} {done} by {}", signer.address());
    }
    print_receipt(ctx, &r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_deadlines() {
        assert_eq!(
            parse_deadline("1767312000"),
            Ok(Deadline::At(1_767_312_000))
        );
        assert_eq!(parse_deadline("+90"), Ok(Deadline::In(90)));
        assert_eq!(parse_deadline("+90s"), Ok(Deadline::In(90)));
        assert_eq!(parse_deadline("+30m"), Ok(Deadline::In(1_800)));
        assert_eq!(parse_deadline("+12h"), Ok(Deadline::In(43_200)));
        assert_eq!(parse_deadline("+7d"), Ok(Deadline::In(604_800)));
        assert!(parse_deadline("+7w").is_err());
        assert!(parse_deadline("+").is_err());
        assert!(parse_deadline("tomorrow").is_err());
        assert!(parse_deadline("-5").is_err());
        assert!(parse_deadline(&format!("+{}d", u64::MAX)).is_err());
    }
}
