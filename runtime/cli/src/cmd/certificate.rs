//! `hanok certificate`: a parcel's title certificate, as a printable HTML page with the
//! machine-checkable part embedded, or as that part alone in JSON; `hanok verify --certificate`
//! checks either offline.

use super::parcel::encumbrance_line;
use super::{connect, refused, resolve_system, utc, NodeOpts, SystemOpts};
use anyhow::{bail, Context, Result};
use clap::Args;
use hanok_client::messages::registry::{HistoryEntry, Parcel};
use hanok_client::{TitleCertificate, VerifiedCertificate};
use std::fmt::Write as _;
use std::path::PathBuf;

/// How many of the latest history entries the printable page lists.
const RECENT_HISTORY: u64 = 10;

#[derive(Args, Debug, Clone)]
pub struct CertificateArgs {
    /// The parcel id.
    #[arg(long, value_name = "ID")]
    parcel: String,
    /// Where to write it: a name ending in `.html` gets the printable page (with the
    /// machine-checkable part embedded), `.json` the machine-checkable part alone.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub async fn run(node: NodeOpts, system: SystemOpts, args: CertificateArgs) -> Result<()> {
    let html = match args.out.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm") => true,
        Some(e) if e.eq_ignore_ascii_case("json") => false,
        _ => bail!(
            "--out {}: name the file *.html (the printable certificate) or *.json (its \
             machine-checkable part)",
            args.out.display()
        ),
    };
    let client = connect(&node).await?;
    let registry = resolve_system(&client, &mut None, "registry", system.registry).await?;
    let Made {
        text,
        certificate,
        checked,
    } = make(&node, &client, registry, &args.parcel, html).await?;
    std::fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))?;
    if node.json {
        return super::print_json(&serde_json::json!({
            "out": args.out,
            "parcel_id": args.parcel,
            "height": checked.title.height,
            "time": checked.title.time,
            "genesis_hash": certificate.genesis_hash,
            "digest": certificate.digest()?.to_hex(),
        }));
    }
    println!(
        "certificate of parcel {} as of block {} ({}) written to {}",
        args.parcel,
        checked.title.height,
        utc(checked.title.time),
        args.out.display()
    );
    println!(
        "check it: hanok verify --certificate {} --genesis {}",
        args.out.display(),
        certificate.genesis_hash
    );
    Ok(())
}

/// A title certificate and what checking it found.
pub(crate) struct Made {
    /// The printable page (`html`) or the certificate's JSON.
    pub text: String,
    /// The certificate.
    pub certificate: TitleCertificate,
    /// What it proves, checked against its own genesis hash.
    pub checked: VerifiedCertificate,
}

/// Makes parcel `parcel_id`'s certificate from the node behind `client`: the title proof,
/// attested by every consortium member that answers, checked before it is handed out (a
/// certificate that would not verify is an error, not a file). `html`: the printable page with
/// the certificate embedded; else its JSON.
pub(crate) async fn make(
    node: &NodeOpts,
    client: &hanok_client::Client,
    registry: hanok_types::Address,
    parcel_id: &str,
    html: bool,
) -> Result<Made> {
    let mut certificate = client
        .title_certificate(registry, parcel_id)
        .await
        .map_err(refused(format!("certifying parcel {parcel_id}")))?;
    let trusted = hanok_client::Hash::from_hex(&certificate.genesis_hash)
        .context("the certificate's genesis hash")?;
    if let Some(consensus) = client
        .status()
        .await
        .map_err(refused("reading the status"))?
        .consensus
    {
        attest(node, &consensus, &mut certificate).await?;
    }
    let checked = certificate.verify(&trusted).map_err(|e| {
        anyhow::anyhow!(
            "the certificate of parcel {parcel_id} is not complete: {e} (are a majority of the \
             members up and reachable from here?)"
        )
    })?;
    let text = if html {
        let history = match &checked.title.parcel {
            Some(p) if p.history_len > 0 => {
                client
                    .registry(registry)
                    .history(
                        parcel_id,
                        Some(p.history_len.saturating_sub(RECENT_HISTORY)),
                        Some(RECENT_HISTORY as u32),
                    )
                    .await
                    .map_err(refused("reading the parcel's history"))?
                    .entries
            }
            _ => Vec::new(),
        };
        page(&certificate, &checked, &history)?
    } else {
        format!("{}\n", certificate.to_json()?)
    };
    Ok(Made {
        text,
        certificate,
        checked,
    })
}

/// Asks every consortium member to attest the certificate's header; each may lag behind the
/// node that served the proof, so a member that has not applied that block yet is asked again
/// for a short while. Members that cannot be reached are skipped (the quorum check says
/// whether enough answered).
async fn attest(
    node: &NodeOpts,
    consensus: &hanok_client::v1::ConsensusStatus,
    certificate: &mut TitleCertificate,
) -> Result<()> {
    let tls = node.tls()?;
    let height = certificate.title.height;
    for m in consensus.members.iter().filter_map(|m| m.member.as_ref()) {
        let url = format!("https://{}", m.addr);
        let deadline = std::time::Instant::now() + ATTEST_PATIENCE;
        let member = tokio::time::timeout(
            ATTEST_PATIENCE,
            hanok_client::Client::connect_with(&url, tls.as_ref()),
        )
        .await;
        let Ok(Ok(member)) = member else {
            eprintln!("note: member {} at {} could not be reached", m.name, m.addr);
            continue;
        };
        loop {
            match tokio::time::timeout(ATTEST_PATIENCE, member.attest_header(height)).await {
                Ok(Ok(a)) => {
                    if let Err(e) = certificate.add_attestation(a) {
                        eprintln!("note: member {}'s attestation is not usable: {e}", m.name);
                    }
                    break;
                }
                Ok(Err(e)) if std::time::Instant::now() < deadline => {
                    tracing::debug!(member = %m.name, error = %e, "attestation not ready; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Ok(Err(e)) => {
                    eprintln!("note: member {} did not attest block {height}: {e}", m.name);
                    break;
                }
                Err(_) => {
                    eprintln!("note: member {} did not answer in time", m.name);
                    break;
                }
            }
        }
    }
    Ok(())
}

/// How long a member may take to attest (it may be a few blocks behind).
const ATTEST_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The printable page: the title in Korean and English, what it speaks for, the QR code of the
/// certificate's digest, and the certificate itself in a JSON script element.
fn page(
    certificate: &TitleCertificate,
    checked: &VerifiedCertificate,
    history: &[HistoryEntry],
) -> Result<String> {
    let t = &checked.title;
    let digest = certificate.digest()?.to_hex();
    let qr = qrcode::QrCode::new(digest.as_bytes())
        .context("making the QR code")?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(160, 160)
        .build();
    // `<` escaped so the JSON cannot end the script element early.
    let json = certificate.to_json()?.replace('<', "\\u003c");
    let mut body = String::new();
    let w = &mut body;
    writeln!(
        w,
        "<h1>등기 증명서 <span class=en>Title certificate</span></h1>"
    )?;
    writeln!(
        w,
        "<p class=speaks>블록 {h} 기준 ({time}) · <span class=en>as of block {h}, {time}</span></p>",
        h = t.height,
        time = esc(&utc(t.time))
    )?;
    match &t.parcel {
        None => writeln!(
            w,
            "<p class=absent>필지 <b>{id}</b>는 등록되어 있지 않습니다. <span class=en>Parcel \
             <b>{id}</b> is not registered (its absence is what is proven).</span></p>",
            id = esc(&certificate.title.parcel_id)
        )?,
        Some(p) => parcel_html(w, p)?,
    }
    if !history.is_empty() {
        writeln!(
            w,
            "<h2>최근 이력 <span class=en>Recent history</span></h2>\n<p class=note>From the \
             registry at the time of writing; the proof below covers the title above, not \
             this list.</p>\n<table><tr><th>#</th><th>block</th><th>time</th><th>action</th><th>detail</th></tr>"
        )?;
        for e in history {
            let action = serde_json::to_value(e.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            writeln!(
                w,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.seq,
                e.height,
                esc(&utc(e.time)),
                esc(&action),
                esc(&e.detail)
            )?;
        }
        writeln!(w, "</table>")?;
    }
    writeln!(
        w,
        "<h2>검증 <span class=en>Verification</span></h2>\n<table class=proof>\
         <tr><th>chain</th><td>{chain}</td></tr>\
         <tr><th>genesis hash</th><td><code>{genesis}</code></td></tr>\
         <tr><th>block</th><td>{height} · <code>{header}</code></td></tr>\
         <tr><th>state root</th><td><code>{root}</code></td></tr>\
         <tr><th>signed by</th><td><code>{signer}</code> (the block's proposer)</td></tr>\
         <tr><th>vouched for by</th><td>{vouched} of {proposers} genesis proposers (a quorum is {quorum})</td></tr>\
         <tr><th>registry</th><td><code>{registry}</code></td></tr>\
         <tr><th>certificate digest</th><td><code>{digest}</code></td></tr></table>",
        chain = esc(&t.chain_id),
        genesis = checked.genesis_hash,
        height = t.height,
        header = t.header_hash,
        root = t.state_root,
        signer = t.signed_by.as_ref().map(|k| k.did()).unwrap_or_default(),
        registry = esc(&certificate.title.registry),
        digest = digest,
        vouched = checked.signers.len(),
        proposers = checked.proposers,
        quorum = checked.quorum,
    )?;
    writeln!(
        w,
        "<div class=qr>{qr}<p>sha256 of the certificate JSON</p></div>\n<p class=how>Check this \
         certificate offline: save this page and run <code>hanok verify --certificate FILE \
         --genesis {genesis}</code> with the chain's genesis hash from a source you trust. It \
         proves that the block above, vouched for by a majority of the node keys the chain's \
         genesis names, commits to a state in which the title is exactly as shown; it says \
         nothing of blocks after it.</p>",
        genesis = checked.genesis_hash
    )?;
    Ok(format!(
        "<!doctype html>\n<html lang=ko>\n<head>\n<meta charset=utf-8>\n<title>{title}</title>\n\
         <style>\nbody{{font-family:sans-serif;max-width:52rem;margin:2rem auto;color:#111}}\n\
         .en{{color:#555;font-weight:normal}}\ntable{{border-collapse:collapse;margin:.5rem 0}}\n\
         th,td{{border:1px solid #999;padding:.25rem .5rem;text-align:left;vertical-align:top}}\n\
         code{{font-size:.8rem;word-break:break-all}}\n.qr{{float:right;text-align:center;font-size:.7rem}}\n\
         .note,.how{{font-size:.85rem;color:#333}}\n@media print{{.how{{page-break-inside:avoid}}}}\n\
         </style>\n</head>\n<body>\n{body}\n<script type=\"application/json\" id=\"{id}\">{json}</script>\n\
         </body>\n</html>\n",
        title = esc(&format!(
            "Title certificate · {} · block {}",
            certificate.title.parcel_id, t.height
        )),
        id = hanok_client::certificate::HTML_SCRIPT_ID,
    ))
}

fn parcel_html(w: &mut String, p: &Parcel) -> Result<()> {
    writeln!(
        w,
        "<table><tr><th>필지 <span class=en>Parcel</span></th><td>{}</td></tr>\
         <tr><th>지번 <span class=en>Lot number</span></th><td>{}</td></tr>\
         <tr><th>소재지 <span class=en>Address</span></th><td>{}</td></tr>\
         <tr><th>면적 <span class=en>Area</span></th><td>{}.{:02} m²</td></tr>\
         <tr><th>지목 <span class=en>Use</span></th><td>{}</td></tr>\
         <tr><th>압류 <span class=en>Seized</span></th><td>{}</td></tr></table>",
        esc(&p.parcel_id),
        esc(&p.lot_number),
        esc(&p.address),
        p.area_m2_hundredths / 100,
        p.area_m2_hundredths % 100,
        esc(&p.land_use.to_string()),
        if p.frozen {
            "예: 법원 압류 중 <span class=en>YES: an active court seizure</span>"
        } else {
            "아니오 <span class=en>no</span>"
        }
    )?;
    writeln!(
        w,
        "<h2>소유자 <span class=en>Owners</span></h2>\n<table><tr><th>owner</th><th>share</th></tr>"
    )?;
    for o in &p.owners {
        writeln!(
            w,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            o.owner,
            super::percent(o.share_bps)
        )?;
    }
    writeln!(w, "</table>")?;
    writeln!(
        w,
        "<h2>권리 (순위순) <span class=en>Encumbrances, in rank order</span></h2>"
    )?;
    if p.encumbrances.is_empty() {
        writeln!(w, "<p>없음 <span class=en>none active</span></p>")?;
    } else {
        writeln!(w, "<ol>")?;
        for e in &p.encumbrances {
            writeln!(w, "<li>{}</li>", esc(&encumbrance_line(e)))?;
        }
        writeln!(w, "</ol>")?;
    }
    Ok(())
}
