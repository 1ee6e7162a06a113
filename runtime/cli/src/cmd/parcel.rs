//! `hanok parcel ...` and `hanok lien ...`: the registry contract.

use super::{krw, parse_address, parse_amount, print_json, print_receipt, refused, utc, Ctx};
use anyhow::{bail, Context, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Subcommand;
use hanok_client::messages::registry::{
    Encumbrance, EncumbranceKind, ExecuteMsg, LandUse, LienResponse, Owner, Parcel, SeizureResponse,
};
use hanok_client::{call_result, Amount, NewParcel};
use hanok_types::Address;

/// Parses a land use by its name in the registry's JSON (`residential`, `commercial`, …);
/// `--help` lists the names.
fn land_use_parser() -> impl TypedValueParser<Value = LandUse> {
    PossibleValuesParser::new(LandUse::NAMES).try_map(|s| s.parse::<LandUse>())
}

/// One `--owner ADDR[=BPS]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerArg {
    owner: Address,
    share_bps: Option<u32>,
}

fn parse_owner(s: &str) -> Result<OwnerArg, String> {
    let (addr, share) = match s.rsplit_once('=') {
        Some((a, bps)) => {
            let bps = bps.trim().parse::<u32>().map_err(|_| {
                format!("`{s}`: the share after `=` is basis points, a whole number (10000 = all)")
            })?;
            (a, Some(bps))
        }
        None => (s, None),
    };
    Ok(OwnerArg {
        owner: parse_address(addr)?,
        share_bps: share,
    })
}

/// Parses an area in m² with at most two decimals into hundredths of m² (`84.97` → 8497).
fn parse_area(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not an area: expected square metres, e.g. 84.97");
    let t = s.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !(whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u64 = whole.parse().map_err(|_| bad())?;
    let frac: u64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let v = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)?;
    if v == 0 {
        return Err(format!("`{s}`: the area must be positive"));
    }
    Ok(v)
}

#[derive(Subcommand)]
pub enum ParcelCmd {
    /// Register a new parcel (an official): id, address, area, use and owners.
    ///
    /// A sole owner needs no share; co-owners give theirs in basis points
    /// (`--owner ADDR=6000 --owner ADDR=4000`, summing to 10000). No personal data goes on
    /// the ledger: owners are addresses.
    Register {
        /// Parcel id, 1 to 64 bytes, unique (e.g. the PNU).
        #[arg(long, value_name = "ID")]
        id: String,
        /// Street address of the land (at most 256 bytes).
        #[arg(long, value_name = "TEXT")]
        address: String,
        /// Area in square metres, up to two decimals (e.g. 84.97).
        #[arg(long = "area-m2", value_name = "M2", value_parser = parse_area)]
        area_m2: u64,
        /// An owner, ADDR or ADDR=BPS (share in basis points); repeat for co-owners.
        #[arg(long, value_name = "ADDR[=BPS]", required = true, value_parser = parse_owner)]
        owner: Vec<OwnerArg>,
        /// Lot number (지번), at most 64 bytes.
        #[arg(
            long,
            value_name = "TEXT",
            default_value = "",
            hide_default_value = true
        )]
        lot: String,
        /// Land use.
        #[arg(
            long,
            value_name = "USE",
            default_value = "residential",
            value_parser = land_use_parser()
        )]
        land_use: LandUse,
    },
    /// Show a parcel's title: owners, active encumbrances (liens, seizures), frozen or not.
    Show {
        /// Parcel id.
        id: String,
    },
    /// Show a parcel's past encumbrances: discharged liens and lifted seizures, by rank.
    Past {
        /// Parcel id.
        id: String,
        /// Start after this rank (paging).
        #[arg(long, value_name = "RANK")]
        after: Option<u64>,
        /// Most entries to show (the registry returns at most 50).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Show a parcel's history (registration, liens, seizures, transfers), oldest first.
    History {
        /// Parcel id.
        id: String,
        /// Start after this sequence number (paging).
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// Most entries to show (the registry returns at most 50).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Freeze a title on a court order (an official): records a seizure; a frozen title
    /// cannot be transferred. Prints the seizure id.
    Freeze {
        /// Parcel id.
        id: String,
        /// sha256 of the court order, 64 hex digits (the order itself stays off the ledger).
        #[arg(long, value_name = "HEX")]
        court_order_hash: String,
    },
    /// Lift a seizure (an official).
    Unfreeze {
        /// Parcel id.
        id: String,
        /// The seizure id printed by `freeze` (its rank in `parcel show`).
        #[arg(long, value_name = "N")]
        seizure: u64,
    },
}

#[derive(Subcommand)]
pub enum LienCmd {
    /// Record a mortgage lien with the next rank (an official); the holder must be an
    /// enrolled bank. Prints the lien's rank.
    Record {
        /// Parcel id.
        #[arg(long, value_name = "ID")]
        parcel: String,
        /// The lending bank.
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        holder: Address,
        /// The registered maximum secured amount (채권최고액), KRW.
        #[arg(long, value_name = "KRW", value_parser = parse_amount)]
        amount: u128,
    },
    /// File the payoff statement for a lien (its holder bank only): the debt on the day, at
    /// most the lien's registered maximum, valid until a block time. A sale pays exactly this
    /// to the bank and discharges the lien; without a valid statement it does not settle.
    Payoff {
        /// Parcel id.
        #[arg(long, value_name = "ID")]
        parcel: String,
        /// The lien's rank, as `parcel show` lists it (also its id).
        #[arg(long, alias = "lien-id", value_name = "N")]
        rank: u64,
        /// The outstanding debt, KRW (0 if the loan is already repaid).
        #[arg(long, value_name = "KRW", value_parser = parse_amount)]
        amount: u128,
        /// Valid until: Unix seconds of block time, or a duration from the latest block (+14d).
        #[arg(long, value_name = "WHEN", value_parser = super::deal::parse_deadline)]
        valid_until: super::deal::Deadline,
    },
    /// Discharge a lien (its holder bank or an official), e.g. once the loan is repaid.
    Discharge {
        /// Parcel id.
        #[arg(long, value_name = "ID")]
        parcel: String,
        /// The lien's rank, as `parcel show` lists it (also its id).
        #[arg(long, alias = "lien-id", value_name = "N")]
        rank: u64,
    },
}

#[derive(Subcommand)]
pub enum LeaseCmd {
    /// Record a registered lease (전세권) with the next rank (an official): the tenant (an
    /// enrolled account), the deposit and the term. A sale keeps it: the buyer takes over the
    /// deposit. Prints the lease's rank.
    Record {
        /// Parcel id.
        #[arg(long, value_name = "ID")]
        parcel: String,
        /// The tenant.
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        tenant: Address,
        /// The deposit (보증금), KRW.
        #[arg(long, value_name = "KRW", value_parser = parse_amount)]
        deposit: u128,
        /// Start of the term: Unix seconds, or a duration from the latest block (+0s, +30d).
        #[arg(long, value_name = "WHEN", default_value = "+0s", value_parser = super::deal::parse_deadline)]
        start: super::deal::Deadline,
        /// End of the term: Unix seconds, or a duration from the latest block (+730d).
        #[arg(long, value_name = "WHEN", value_parser = super::deal::parse_deadline)]
        end: super::deal::Deadline,
    },
    /// Discharge a lease (its tenant, once the deposit is back, or an official).
    Discharge {
        /// Parcel id.
        #[arg(long, value_name = "ID")]
        parcel: String,
        /// The lease's rank, as `parcel show` lists it (also its id).
        #[arg(long, alias = "lease-id", value_name = "N")]
        rank: u64,
    },
}

/// Records or discharges a lease.
pub async fn run_lease(mut ctx: Ctx, cmd: LeaseCmd) -> Result<()> {
    let registry_addr = ctx.registry().await?;
    let signer = ctx.signer()?;
    let registry = ctx.client.registry(registry_addr);
    match cmd {
        LeaseCmd::Record {
            parcel,
            tenant,
            deposit,
            start,
            end,
        } => {
            let now = ctx
                .client
                .status()
                .await
                .map_err(refused("reading the latest block time"))?
                .latest_block_time;
            let at = |d: super::deal::Deadline| match d {
                super::deal::Deadline::At(t) => t,
                super::deal::Deadline::In(s) => now.saturating_add(s),
            };
            let (term_start, term_end) = (at(start), at(end));
            let rank = registry
                .record_lease(&signer, &parcel, tenant, deposit, (term_start, term_end))
                .await
                .map_err(refused(format!("recording a lease on parcel {parcel}")))?;
            if ctx.node.json {
                return super::print_json(&serde_json::json!({"lease_id": rank}));
            }
            println!(
                "lease recorded on parcel {parcel}: rank {rank}, tenant {tenant}, deposit {}, \
                 term {} to {}",
                krw(deposit),
                super::utc(term_start),
                super::utc(term_end)
            );
            Ok(())
        }
        LeaseCmd::Discharge { parcel, rank } => {
            let r = registry
                .discharge_lease(&signer, &parcel, rank)
                .await
                .map_err(refused(format!(
                    "discharging lease {rank} on parcel {parcel}"
                )))?;
            if !ctx.node.json {
                println!("lease {rank} on parcel {parcel} discharged");
            }
            print_receipt(&ctx, &r)
        }
    }
}

/// One line of an encumbrance: `rank 1  mortgage  holder 0x…  300,000,000 KRW  active  (…)`.
pub(crate) fn encumbrance_line(e: &Encumbrance) -> String {
    let state = |on: &str, off: &str| if e.active { on } else { off }.to_string();
    let ended = |how: &str| {
        e.ended_height
            .map_or_else(String::new, |h| format!(", {how} at height {h}"))
    };
    match &e.kind {
        EncumbranceKind::Mortgage {
            holder,
            amount,
            payoff,
        } => format!(
            "rank {}  mortgage  holder {holder}  maximum {}  {}  {}  (recorded at height {}{})",
            e.rank,
            krw(amount.0),
            match payoff {
                Some(p) => format!(
                    "payoff {} valid until {}",
                    krw(p.amount.0),
                    super::utc(p.valid_until)
                ),
                None => "no payoff statement".to_string(),
            },
            state("active", "discharged"),
            e.recorded_height,
            ended("discharged")
        ),
        EncumbranceKind::Seizure { court_order_hash } => format!(
            "rank {}  seizure   court order {court_order_hash}  {}  (recorded at height {}{})",
            e.rank,
            state("active", "lifted"),
            e.recorded_height,
            ended("lifted")
        ),
        EncumbranceKind::Lease {
            tenant,
            deposit,
            term_start,
            term_end,
        } => format!(
            "rank {}  lease     tenant {tenant}  deposit {}  term {} to {}  {}  (recorded at height {}{})",
            e.rank,
            krw(deposit.0),
            super::utc(*term_start),
            super::utc(*term_end),
            state("active", "discharged"),
            e.recorded_height,
            ended("discharged")
        ),
    }
}

/// Prints a parcel's title for people.
pub(crate) fn print_parcel(p: &Parcel) {
    println!("parcel        {}", p.parcel_id);
    if !p.lot_number.is_empty() {
        println!("lot number    {}", p.lot_number);
    }
    println!("address       {}", p.address);
    println!(
        "area          {}.{:02} m²",
        p.area_m2_hundredths / 100,
        p.area_m2_hundredths % 100
    );
    println!("land use      {}", p.land_use);
    for (i, o) in p.owners.iter().enumerate() {
        println!(
            "{}{}  {}.{:02}%",
            if i == 0 {
                "owner(s)      "
            } else {
                "              "
            },
            o.owner,
            o.share_bps / 100,
            o.share_bps % 100
        );
    }
    println!(
        "frozen        {}",
        if p.frozen {
            "YES (an active court seizure: the title cannot be transferred)"
        } else {
            "no"
        }
    );
    if p.encumbrances.is_empty() {
        println!("encumbrances  none active");
    } else {
        println!("encumbrances");
        for e in &p.encumbrances {
            println!("  {}", encumbrance_line(e));
        }
    }
    if p.past_encumbrances > 0 {
        println!(
            "past          {} discharged or lifted (`hanok parcel past {}`)",
            p.past_encumbrances, p.parcel_id
        );
    }
    println!(
        "registered at height {}; {} history entries (`hanok parcel history {}`)",
        p.registered_height, p.history_len, p.parcel_id
    );
}

fn owners_of(args: Vec<OwnerArg>) -> Result<Vec<Owner>> {
    if let [one] = args.as_slice() {
        return Ok(vec![Owner {
            owner: one.owner,
            share_bps: one.share_bps.unwrap_or(10_000),
        }]);
    }
    args.into_iter()
        .map(|o| match o.share_bps {
            Some(share_bps) => Ok(Owner {
                owner: o.owner,
                share_bps,
            }),
            None => bail!(
                "co-owner {} has no share: give each co-owner's share in basis points, \
                 e.g. --owner {}=5000 (shares sum to 10000)",
                o.owner,
                o.owner
            ),
        })
        .collect()
}

pub async fn run(mut ctx: Ctx, cmd: ParcelCmd) -> Result<()> {
    let registry_addr = ctx.registry().await?;
    let registry = ctx.client.registry(registry_addr);
    match cmd {
        ParcelCmd::Register {
            id,
            address,
            area_m2,
            owner,
            lot,
            land_use,
        } => {
            let signer = ctx.signer()?;
            let parcel = NewParcel {
                parcel_id: id.clone(),
                lot_number: lot,
                address,
                area_m2_hundredths: area_m2,
                land_use,
                owners: owners_of(owner)?,
            };
            let r = registry
                .register_parcel(&signer, &parcel)
                .await
                .map_err(refused(format!("registering parcel {id}")))?;
            if !ctx.node.json {
                println!("registered parcel {id}");
            }
            print_receipt(&ctx, &r)
        }
        ParcelCmd::Show { id } => {
            let p = registry
                .parcel(&id)
                .await
                .map_err(refused(format!("reading parcel {id}")))?;
            if ctx.node.json {
                return print_json(&p);
            }
            print_parcel(&p);
            Ok(())
        }
        ParcelCmd::Past { id, after, limit } => {
            let p = registry
                .past_encumbrances(&id, after, limit)
                .await
                .map_err(refused(format!(
                    "reading the past encumbrances of parcel {id}"
                )))?;
            if ctx.node.json {
                return print_json(&p);
            }
            if p.encumbrances.is_empty() {
                println!("no past encumbrances");
            }
            for e in &p.encumbrances {
                println!("{}", encumbrance_line(e));
            }
            Ok(())
        }
        ParcelCmd::History { id, after, limit } => {
            let h = registry
                .history(&id, after, limit)
                .await
                .map_err(refused(format!("reading the history of parcel {id}")))?;
            if ctx.node.json {
                return print_json(&h);
            }
            if h.entries.is_empty() {
                println!("no history entries");
            }
            for e in &h.entries {
                println!(
                    "#{:<3} height {:<6} {}  {:<17} {}",
                    e.seq,
                    e.height,
                    utc(e.time),
                    e.action.as_str(),
                    e.detail
                );
            }
            Ok(())
        }
        ParcelCmd::Freeze {
            id,
            court_order_hash,
        } => {
            let signer = ctx.signer()?;
            let msg = ExecuteMsg::Freeze {
                parcel_id: id.clone(),
                court_order_hash,
            };
            let r = ctx
                .client
                .execute(&signer, registry_addr, &msg)
                .await
                .map_err(refused(format!("freezing parcel {id}")))?;
            if !ctx.node.json {
                let seizure = call_result(&r, 0)
                    .ok()
                    .and_then(|v| serde_json::from_value::<SeizureResponse>(v).ok())
                    .map(|s| s.seizure_id);
                match seizure {
                    Some(n) => println!("parcel {id} frozen: seizure {n}"),
                    None => println!("parcel {id} frozen"),
                }
            }
            print_receipt(&ctx, &r)
        }
        ParcelCmd::Unfreeze { id, seizure } => {
            let signer = ctx.signer()?;
            let r = registry
                .unfreeze(&signer, &id, seizure)
                .await
                .map_err(refused(format!("lifting seizure {seizure} on parcel {id}")))?;
            if !ctx.node.json {
                println!("seizure {seizure} on parcel {id} lifted");
            }
            print_receipt(&ctx, &r)
        }
    }
}

pub async fn run_lien(mut ctx: Ctx, cmd: LienCmd) -> Result<()> {
    let registry_addr = ctx.registry().await?;
    let signer = ctx.signer()?;
    match cmd {
        LienCmd::Record {
            parcel,
            holder,
            amount,
        } => {
            let msg = ExecuteMsg::RecordLien {
                parcel_id: parcel.clone(),
                holder,
                amount: Amount(amount),
            };
            let r = ctx
                .client
                .execute(&signer, registry_addr, &msg)
                .await
                .map_err(refused(format!("recording a lien on parcel {parcel}")))?;
            if !ctx.node.json {
                let rank = call_result(&r, 0)
                    .ok()
                    .and_then(|v| serde_json::from_value::<LienResponse>(v).ok())
                    .map(|l| l.lien_id)
                    .context("the registry did not return the lien's rank")?;
                println!(
                    "lien recorded on parcel {parcel}: rank {rank}, holder {holder}, {}",
                    krw(amount)
                );
            }
            print_receipt(&ctx, &r)
        }
        LienCmd::Payoff {
            parcel,
            rank,
            amount,
            valid_until,
        } => {
            let valid_until = match valid_until {
                super::deal::Deadline::At(t) => t,
                super::deal::Deadline::In(s) => ctx
                    .client
                    .status()
                    .await
                    .map_err(refused("reading the latest block time"))?
                    .latest_block_time
                    .saturating_add(s),
            };
            let r = ctx
                .client
                .registry(registry_addr)
                .file_payoff(&signer, &parcel, rank, amount, valid_until)
                .await
                .map_err(refused(format!(
                    "filing the payoff statement for lien {rank} on parcel {parcel}"
                )))?;
            if !ctx.node.json {
                println!(
                    "payoff statement filed for lien {rank} on parcel {parcel}: {}, valid until {}",
                    krw(amount),
                    super::utc(valid_until)
                );
            }
            print_receipt(&ctx, &r)
        }
        LienCmd::Discharge { parcel, rank } => {
            let r = ctx
                .client
                .registry(registry_addr)
                .discharge_lien(&signer, &parcel, rank)
                .await
                .map_err(refused(format!(
                    "discharging lien {rank} on parcel {parcel}"
                )))?;
            if !ctx.node.json {
                println!("lien {rank} on parcel {parcel} discharged");
            }
            print_receipt(&ctx, &r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_areas() {
        assert_eq!(parse_area("84.97"), Ok(8497));
        assert_eq!(parse_area("85"), Ok(8500));
        assert_eq!(parse_area("85.5"), Ok(8550));
        assert_eq!(parse_area("0.01"), Ok(1));
        assert!(parse_area("0").is_err());
        assert!(parse_area("1.234").is_err());
        assert!(parse_area("-3").is_err());
        assert!(parse_area(".5").is_err());
        assert!(parse_area("1e3").is_err());
        assert!(parse_area("99999999999999999999").is_err());
    }

    #[test]
    fn parses_owners() {
        let a = Address([1; 20]);
        assert_eq!(
            parse_owner(&format!("{a}=2500")),
            Ok(OwnerArg {
                owner: a,
                share_bps: Some(2500)
            })
        );
        assert_eq!(
            parse_owner(&a.to_string()),
            Ok(OwnerArg {
                owner: a,
                share_bps: None
            })
        );
        assert!(parse_owner("dev:seller=x").is_err());
        let two = vec![
            OwnerArg {
                owner: a,
                share_bps: None,
            },
            OwnerArg {
                owner: Address([2; 20]),
                share_bps: Some(5000),
            },
        ];
        assert!(owners_of(two).is_err());
    }
}
