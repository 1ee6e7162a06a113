//! `hanok tax ...`: the acquisition-tax contract (rates, quotes, the first-home relief).

use super::{
    krw, parse_address, parse_amount, percent, print_json, print_receipt, refused, utc, Ctx,
};
use anyhow::Result;
use clap::Subcommand;
use hanok_client::messages::tax::{Band, ReliefRule, BPS};
use hanok_client::messages::Amount;
use hanok_types::Address;

#[derive(Subcommand)]
pub enum TaxCmd {
    /// Replace the rate table, the first-home relief and the municipality's account (an
    /// enrolled tax-official). Deals already quoted keep their quote.
    SetRates {
        /// A price band, in price order: UP_TO:RATE (basis points, 100 = 1 %), UP_TO `max`
        /// for the last band, or UP_TO:LOW-HIGH for a rate rising linearly across the band.
        #[arg(long, value_name = "UP_TO:RATE", required = true, value_parser = parse_band)]
        band: Vec<Band>,
        /// The first-home relief: MAX_PRICE:MAX_REDUCTION (KRW). Omitted: no relief.
        #[arg(long, value_name = "MAX_PRICE:MAX_REDUCTION", value_parser = parse_relief)]
        relief: Option<ReliefRule>,
        /// The account the tax is paid to (enrolled as municipality).
        #[arg(long, value_name = "ADDR", value_parser = parse_address)]
        municipality: Address,
    },
    /// Show the rate table in force.
    Rates,
    /// The full-rate tax on a price under the table in force (before any relief).
    Quote {
        /// The price, KRW.
        #[arg(value_name = "KRW", value_parser = parse_amount)]
        price: u128,
    },
    /// Whether an account's person already claimed the first-home relief, and with which deal.
    Relief {
        /// The account (a buyer's key).
        #[arg(value_name = "ADDR", value_parser = parse_address)]
        address: Address,
    },
}

/// `UP_TO:RATE`, `max:RATE` or `UP_TO:LOW-HIGH`.
fn parse_band(s: &str) -> Result<Band, String> {
    let (top, rate) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not a band: expected UP_TO:RATE, e.g. 600000000:100"))?;
    let up_to = match top.trim() {
        "max" => None,
        t => Some(Amount(parse_amount(t)?)),
    };
    let bps = |r: &str| -> Result<u32, String> {
        r.trim()
            .parse::<u32>()
            .ok()
            .filter(|v| *v <= BPS)
            .ok_or_else(|| format!("`{r}` is not a rate: basis points from 0 to {BPS}"))
    };
    let (rate_bps, rate_bps_at_top) = match rate.split_once('-') {
        Some((lo, hi)) => (bps(lo)?, Some(bps(hi)?)),
        None => (bps(rate)?, None),
    };
    Ok(Band {
        up_to,
        rate_bps,
        rate_bps_at_top,
    })
}

/// `MAX_PRICE:MAX_REDUCTION`.
fn parse_relief(s: &str) -> Result<ReliefRule, String> {
    let (price, cut) = s.split_once(':').ok_or_else(|| {
        format!("`{s}` is not a relief: expected MAX_PRICE:MAX_REDUCTION, e.g. 1200000000:2000000")
    })?;
    Ok(ReliefRule {
        max_price: Amount(parse_amount(price)?),
        max_reduction: Amount(parse_amount(cut)?),
    })
}

fn band_line(floor: u128, b: &Band) -> String {
    let top = b
        .up_to
        .map_or_else(|| "and above".to_string(), |t| format!("to {}", krw(t.0)));
    let rate = match b.rate_bps_at_top {
        Some(hi) => format!("{} rising to {}", percent(b.rate_bps), percent(hi)),
        None => percent(b.rate_bps),
    };
    format!("  from {} {top}: {rate}", krw(floor))
}

pub async fn run(mut ctx: Ctx, cmd: TaxCmd) -> Result<()> {
    let addr = ctx.tax().await?;
    let tax = ctx.client.tax(addr);
    match cmd {
        TaxCmd::SetRates {
            band,
            relief,
            municipality,
        } => {
            let signer = ctx.signer()?;
            let r = tax
                .set_rates(&signer, &band, relief, municipality)
                .await
                .map_err(refused("setting the tax rates"))?;
            if !ctx.node.json {
                println!("{} bands set; the tax goes to {municipality}", band.len());
            }
            print_receipt(&ctx, &r)
        }
        TaxCmd::Rates => {
            let r = tax
                .rates()
                .await
                .map_err(refused("reading the tax rates"))?;
            if ctx.node.json {
                return print_json(&r);
            }
            if r.bands.is_empty() {
                println!("no rate table: deals accepted now owe no acquisition tax");
                return Ok(());
            }
            println!("acquisition tax, by price:");
            let mut floor = 0;
            for b in &r.bands {
                println!("{}", band_line(floor, b));
                floor = b.up_to.map_or(floor, |t| t.0);
            }
            match r.relief {
                Some(rel) => println!(
                    "first-home relief: up to {} off, for a price up to {}, once per person",
                    krw(rel.max_reduction.0),
                    krw(rel.max_price.0)
                ),
                None => println!("first-home relief: none"),
            }
            if let Some(m) = r.municipality {
                println!("paid to      {m}");
            }
            match r.set_by {
                Some(by) => println!("set by       {by} at height {}", r.set_height),
                None => println!("set at genesis"),
            }
            Ok(())
        }
        TaxCmd::Quote { price } => {
            let q = tax
                .quote(price)
                .await
                .map_err(refused(format!("quoting the tax on {}", krw(price))))?;
            if ctx.node.json {
                return print_json(&q);
            }
            println!(
                "{} at {}: {} (before any first-home relief)",
                krw(price),
                percent(q.rate_bps),
                krw(q.full_tax.0)
            );
            Ok(())
        }
        TaxCmd::Relief { address } => {
            let r = tax
                .relief_of(address)
                .await
                .map_err(refused(format!("reading the relief of {address}")))?;
            if ctx.node.json {
                return print_json(&r);
            }
            match (&r.person_hash, &r.claim) {
                (None, _) => println!(
                    "{address} has no person hash enrolled: the relief cannot be claimed with it"
                ),
                (Some(_), None) => println!("{address}: the first-home relief is unclaimed"),
                (Some(_), Some(c)) => println!(
                    "{address}: claimed {} with deal {} (parcel {}, by {}) on {}",
                    krw(c.amount.0),
                    c.deal_id,
                    c.parcel_id,
                    c.buyer,
                    utc(c.time)
                ),
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bands_and_reliefs() {
        assert_eq!(
            parse_band("900,000,000:100-300"),
            Ok(Band {
                up_to: Some(Amount(900_000_000)),
                rate_bps: 100,
                rate_bps_at_top: Some(300)
            })
        );
        assert_eq!(parse_band("max:300").map(|b| b.up_to), Ok(None));
        assert!(parse_band("600000000").is_err());
        assert!(parse_band("600000000:10001").is_err());
        assert_eq!(
            parse_relief("1200000000:2000000").map(|r| r.max_reduction),
            Ok(Amount(2_000_000))
        );
        assert_eq!(percent(250), "2.50 %");
    }
}
