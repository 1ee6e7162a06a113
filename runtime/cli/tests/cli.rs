//! The per-user commands of the `hanok` binary, run as a child process against an in-process
//! dev node (the real dev genesis, sled in a tempdir, gRPC on a loopback port).

use anyhow::{bail, ensure, Context, Result};
use hanok_node::dev::{dev_genesis, DevKeys};
use hanok_node::{start, NodeConfig, NodeHandle};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// An endpoint where nothing listens: commands that must not need a node get this one.
const NO_NODE: &str = "http://127.0.0.1:1";

/// Runs `hanok args...` against `endpoint` and returns its output.
fn hanok(endpoint: &str, args: &[&str]) -> Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_hanok"))
        .args(args)
        .env("HANOK_ENDPOINT", endpoint)
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .with_context(|| format!("running hanok {args:?}"))
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a command that must succeed; returns its stdout.
fn ok(endpoint: &str, args: &[&str]) -> Result<String> {
    let out = hanok(endpoint, args)?;
    let (stdout, stderr) = text(&out);
    ensure!(
        out.status.success(),
        "hanok {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    Ok(stdout)
}

/// Runs a command that must succeed with `--json`; returns its parsed stdout.
fn ok_json(endpoint: &str, args: &[&str]) -> Result<Value> {
    let mut all = args.to_vec();
    all.push("--json");
    let stdout = ok(endpoint, &all)?;
    serde_json::from_str(&stdout).with_context(|| format!("hanok {all:?} printed {stdout}"))
}

/// Runs a command that must fail; returns its stderr, which must contain `words`.
fn fails(endpoint: &str, args: &[&str], words: &str) -> Result<String> {
    let out = hanok(endpoint, args)?;
    let (stdout, stderr) = text(&out);
    ensure!(
        !out.status.success(),
        "hanok {args:?} should have failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    ensure!(
        stderr.contains(words),
        "hanok {args:?}: expected `{words}` on stderr, got:\n{stderr}"
    );
    Ok(stderr)
}

fn dev_address(name: &str) -> Result<String> {
    Ok(DevKeys::new()
        .get(name)
        .context("dev account")?
        .address
        .to_string())
}

/// A dev node on its own runtime; the test thread runs the binary while the runtime's workers
/// serve it.
struct DevNode {
    rt: tokio::runtime::Runtime,
    handle: Option<NodeHandle>,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl DevNode {
    fn start() -> Result<DevNode> {
        let dir = tempfile::tempdir()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut config = NodeConfig::dev(dir.path());
        config.listen = "127.0.0.1:0".parse()?;
        config.block_interval_ms = 20;
        config.request_timeout_ms = 10_000;
        let handle = rt.block_on(start(config, dev_genesis()))?;
        let endpoint = format!("http://{}", handle.local_addr);
        let node = DevNode {
            rt,
            handle: Some(handle),
            endpoint,
            _dir: dir,
        };
        node.wait_ready()?;
        Ok(node)
    }

    /// Polls `hanok status` until the node answers (it listens once `start` returns; this
    /// covers a slow first connection), with a deadline.
    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = hanok(&self.endpoint, &["status"])?;
            if out.status.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the node never answered `hanok status`: {:?}", text(&out));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = self.rt.block_on(handle.shutdown());
        }
    }
}

#[test]
fn keys_new_and_show_offline() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("alice.key");
    let key_arg = key.to_str().context("utf-8 path")?;
    let made = ok_json(NO_NODE, &["keys", "new", "--out", key_arg])?;
    let address = made["address"].as_str().context("address")?.to_string();
    ensure!(address.starts_with("0x") && address.len() == 42, "{made}");
    ensure!(made["did"]
        .as_str()
        .is_some_and(|d| d.starts_with("did:key:z")));
    ensure!(
        made.get("secret_key").is_none(),
        "the secret must not be printed: {made}"
    );
    let secret = std::fs::read_to_string(&key)?;
    ensure!(
        secret.trim().len() == 64 && secret.trim().bytes().all(|b| b.is_ascii_hexdigit()),
        "key file holds {secret:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key)?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "key file mode {mode:o}");
    }
    // `keys show` reads it back; no node is needed.
    let shown = ok(NO_NODE, &["keys", "show", "--key", key_arg])?;
    ensure!(shown.contains(&address), "{shown}");
    ensure!(
        shown.contains(made["did"].as_str().unwrap_or("?")),
        "{shown}"
    );
    // Keys are never overwritten.
    fails(
        NO_NODE,
        &["keys", "new", "--out", key_arg],
        "already exists",
    )?;
    ensure!(std::fs::read_to_string(&key)? == secret);
    // Without --out the secret is printed, with a warning.
    let out = hanok(NO_NODE, &["keys", "new"])?;
    let (stdout, stderr) = text(&out);
    ensure!(out.status.success() && stdout.contains("secret key") && stderr.contains("warning"));
    // Dev accounts.
    let buyer = ok(NO_NODE, &["keys", "show", "--dev", "buyer"])?;
    ensure!(buyer.contains(&dev_address("buyer")?), "{buyer}");
    fails(
        NO_NODE,
        &["keys", "show", "--dev", "nobody"],
        "unknown dev account",
    )?;
    fails(NO_NODE, &["keys", "show"], "--key FILE or --dev NAME")?;
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "not a key\n")?;
    fails(
        NO_NODE,
        &["keys", "show", "--key", bad.to_str().context("utf-8 path")?],
        "does not hold a secret key",
    )?;
    Ok(())
}

#[test]
fn help_explains_the_commands() -> Result<()> {
    let top = ok(NO_NODE, &["--help"])?;
    for cmd in [
        "status",
        "keys",
        "parcel",
        "lien",
        "lease",
        "deal",
        "token",
        "contract",
        "verify",
        "certificate",
    ] {
        ensure!(
            top.contains(cmd),
            "`hanok --help` does not list {cmd}:\n{top}"
        );
    }
    let parcel = ok(NO_NODE, &["parcel", "--help"])?;
    for words in ["register", "--endpoint", "--dev", "--registry", "Examples"] {
        ensure!(
            parcel.contains(words),
            "`hanok parcel --help` lacks {words}"
        );
    }
    Ok(())
}

#[test]
fn commands_against_a_dev_node() -> Result<()> {
    let node = DevNode::start()?;
    let url = node.endpoint.as_str();
    let seller = dev_address("seller")?;
    let buyer = dev_address("buyer")?;

    // status
    let status = ok(url, &["status"])?;
    ensure!(
        status.contains("hanok-dev-1") && status.contains("height"),
        "{status}"
    );
    let status = ok_json(url, &["status"])?;
    ensure!(
        status["height"].as_u64().is_some_and(|h| h >= 1),
        "{status}"
    );
    ensure!(status["latest_block_hash"].as_str().map(str::len) == Some(64));

    // An official registers a parcel; `parcel show` has its owner.
    let register = [
        "parcel",
        "register",
        "--id",
        "CLI-1",
        "--address",
        "Seoul Gangnam-gu Daechi-dong 123",
        "--area-m2",
        "84.97",
        "--owner",
        "dev:seller",
        "--dev",
        "official-1",
    ];
    let out = ok(url, &register)?;
    ensure!(out.contains("registered parcel CLI-1"), "{out}");
    let shown = ok(url, &["parcel", "show", "CLI-1"])?;
    ensure!(
        shown.contains(&seller) && shown.contains("84.97 m²"),
        "{shown}"
    );
    let parcel = ok_json(url, &["parcel", "show", "CLI-1"])?;
    ensure!(parcel["owners"][0]["owner"] == seller.as_str(), "{parcel}");
    ensure!(parcel["area_m2_hundredths"] == 8497, "{parcel}");

    // Refusals exit non-zero with the contract's own words; nothing is written.
    fails(url, &register, "parcel CLI-1 already registered")?;
    let mut by_buyer = register;
    by_buyer[3] = "CLI-2";
    by_buyer[11] = "buyer";
    fails(url, &by_buyer, "only an official may register a parcel")?;
    fails(url, &["parcel", "show", "CLI-2"], "parcel CLI-2 not found")?;
    // Bad input is refused before anything is sent.
    fails(
        url,
        &[
            "token",
            "mint",
            "--to",
            "dev:buyer",
            "--amount",
            "12.5",
            "--dev",
            "bank-b",
        ],
        "not an amount",
    )?;
    fails(
        url,
        &[
            "token", "mint", "--to", "0x1234", "--amount", "1", "--dev", "bank-b",
        ],
        "not an address",
    )?;
    fails(
        url,
        &[
            "parcel",
            "register",
            "--id",
            "X",
            "--address",
            "A",
            "--area-m2",
            "10",
            "--owner",
            "dev:seller",
        ],
        "--key FILE",
    )?;

    // A lien, recorded and discharged by rank.
    let lien = ok(
        url,
        &[
            "lien",
            "record",
            "--parcel",
            "CLI-1",
            "--holder",
            "dev:bank-a",
            "--amount",
            "300,000,000",
            "--dev",
            "official-1",
        ],
    )?;
    ensure!(lien.contains("rank 1"), "{lien}");
    // Its holder bank files a payoff statement, within the registered maximum; another bank
    // may not, nor may it ask more than the maximum.
    let payoff = |bank: &'static str, amount: &'static str| {
        [
            "lien",
            "payoff",
            "--parcel",
            "CLI-1",
            "--rank",
            "1",
            "--amount",
            amount,
            "--valid-until",
            "+14d",
            "--dev",
            bank,
        ]
    };
    fails(
        url,
        &payoff("bank-b", "250,000,000"),
        "only the lien's holder bank",
    )?;
    fails(
        url,
        &payoff("bank-a", "300,000,001"),
        "exceeds lien 1's registered maximum 300000000",
    )?;
    let filed = ok(url, &payoff("bank-a", "250,000,000"))?;
    ensure!(
        filed.contains("payoff statement filed for lien 1") && filed.contains("250,000,000 KRW"),
        "{filed}"
    );
    let shown = ok(url, &["parcel", "show", "CLI-1"])?;
    ensure!(
        shown.contains("maximum 300,000,000 KRW") && shown.contains("payoff 250,000,000 KRW"),
        "{shown}"
    );
    ok(
        url,
        &[
            "lien",
            "discharge",
            "--parcel",
            "CLI-1",
            "--rank",
            "1",
            "--dev",
            "bank-a",
        ],
    )?;
    // A discharged lien leaves the title and joins the parcel's past encumbrances.
    let parcel = ok_json(url, &["parcel", "show", "CLI-1"])?;
    ensure!(
        parcel["encumbrances"] == serde_json::json!([]) && parcel["past_encumbrances"] == 1,
        "{parcel}"
    );
    let past = ok_json(url, &["parcel", "past", "CLI-1"])?;
    ensure!(
        past["encumbrances"][0]["rank"] == 1 && past["encumbrances"][0]["active"] == false,
        "{past}"
    );
    fails(
        url,
        &[
            "lien",
            "discharge",
            "--parcel",
            "CLI-1",
            "--rank",
            "1",
            "--dev",
            "bank-a",
        ],
        "already discharged",
    )?;

    // A registered lease takes the next rank and shows on the title; its tenant discharges it.
    let lease = ok(
        url,
        &[
            "lease",
            "record",
            "--parcel",
            "CLI-1",
            "--tenant",
            "dev:buyer",
            "--deposit",
            "250,000,000",
            "--end",
            "+730d",
            "--dev",
            "official-1",
        ],
    )?;
    ensure!(
        lease.contains("rank 2") && lease.contains("250,000,000 KRW"),
        "{lease}"
    );
    let shown = ok(url, &["parcel", "show", "CLI-1"])?;
    ensure!(
        shown.contains("lease") && shown.contains("deposit 250,000,000 KRW"),
        "{shown}"
    );
    fails(
        url,
        &[
            "lease",
            "discharge",
            "--parcel",
            "CLI-1",
            "--rank",
            "2",
            "--dev",
            "bank-a",
        ],
        "only an official may discharge a lease (or its tenant)",
    )?;
    ok(
        url,
        &[
            "lease",
            "discharge",
            "--parcel",
            "CLI-1",
            "--rank",
            "2",
            "--dev",
            "buyer",
        ],
    )?;
    let parcel = ok_json(url, &["parcel", "show", "CLI-1"])?;
    ensure!(parcel["encumbrances"] == serde_json::json!([]), "{parcel}");

    // A bank mints; the balance shows it.
    ok(
        url,
        &[
            "token",
            "mint",
            "--to",
            "dev:buyer",
            "--amount",
            "900_000_000",
            "--dev",
            "bank-b",
        ],
    )?;
    let balance = ok_json(url, &["token", "balance", "dev:buyer"])?;
    ensure!(balance["balance"] == "900000000", "{balance}");
    let balance = ok(url, &["token", "balance", "--dev", "buyer"])?;
    ensure!(
        balance.contains("900,000,000 KRW") && balance.contains(&buyer),
        "{balance}"
    );
    fails(
        url,
        &[
            "token",
            "mint",
            "--to",
            "dev:buyer",
            "--amount",
            "5",
            "--dev",
            "buyer",
        ],
        "bank",
    )?;

    // The title with its proof, checked offline; then the saved proof with no node at all.
    let dir = tempfile::tempdir()?;
    let proof = dir.path().join("cli-1.json");
    let proof_arg = proof.to_str().context("utf-8 path")?;
    let verified = ok(url, &["verify", "--parcel", "CLI-1", "--save", proof_arg])?;
    ensure!(
        verified.contains("VERIFIED") && verified.contains(&seller),
        "{verified}"
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&proof)?)?;
    let header = saved["header_hash"]
        .as_str()
        .context("header_hash")?
        .to_string();
    let offline = ok(
        NO_NODE,
        &[
            "verify",
            "--parcel",
            "CLI-1",
            "--proof",
            proof_arg,
            "--trusted-header",
            &header,
            "--expect-owner",
            "dev:seller",
        ],
    )?;
    ensure!(
        offline.contains("VERIFIED") && offline.contains(&seller),
        "{offline}"
    );
    fails(
        NO_NODE,
        &[
            "verify",
            "--parcel",
            "CLI-1",
            "--proof",
            proof_arg,
            "--trusted-header",
            &"ab".repeat(32),
        ],
        "VERIFICATION FAILED",
    )?;
    fails(
        NO_NODE,
        &[
            "verify",
            "--parcel",
            "CLI-1",
            "--proof",
            proof_arg,
            "--expect-owner",
            "dev:buyer",
        ],
        "not an owner",
    )?;
    tamper(&proof)?;
    fails(
        NO_NODE,
        &["verify", "--parcel", "CLI-1", "--proof", proof_arg],
        "VERIFICATION FAILED",
    )?;
    // A title certificate, as the printable page and as JSON: both check offline against the
    // genesis hash `hanok status` shows; another chain's hash and a forged owner do not.
    let genesis = ok_json(url, &["status"])?["genesis_hash"]
        .as_str()
        .context("genesis_hash in status --json")?
        .to_string();
    ensure!(genesis.len() == 64, "{genesis}");
    let page = dir.path().join("cli-1.html");
    let machine = dir.path().join("cli-1-certificate.json");
    let page_arg = page.to_str().context("utf-8 path")?;
    let machine_arg = machine.to_str().context("utf-8 path")?;
    let wrote = ok(
        url,
        &["certificate", "--parcel", "CLI-1", "--out", page_arg],
    )?;
    ensure!(wrote.contains(&genesis), "{wrote}");
    ok(
        url,
        &["certificate", "--parcel", "CLI-1", "--out", machine_arg],
    )?;
    let html = std::fs::read_to_string(&page)?;
    ensure!(
        html.contains("<svg") && html.contains(&seller) && html.contains("소유자"),
        "the page lacks the QR code, the owner or the Korean labels"
    );
    for file in [page_arg, machine_arg] {
        let checked = ok(
            NO_NODE,
            &["verify", "--certificate", file, "--genesis", &genesis],
        )?;
        ensure!(
            checked.contains("VERIFIED")
                && checked.contains("It proves")
                && checked.contains(&seller),
            "{checked}"
        );
    }
    fails(
        NO_NODE,
        &[
            "verify",
            "--certificate",
            page_arg,
            "--genesis",
            &"ab".repeat(32),
        ],
        "VERIFICATION FAILED",
    )?;
    let mut forged: Value = serde_json::from_str(&std::fs::read_to_string(&machine)?)?;
    let value = forged["title"]["value"].as_str().context("title value")?;
    let mut parcel: Value = serde_json::from_slice(&hex::decode(value)?)?;
    parcel["owners"][0]["owner"] = Value::String(buyer.clone());
    forged["title"]["value"] = Value::String(hex::encode(serde_json::to_vec(&parcel)?));
    std::fs::write(&machine, serde_json::to_string(&forged)?)?;
    fails(
        NO_NODE,
        &[
            "verify",
            "--certificate",
            machine_arg,
            "--genesis",
            &genesis,
        ],
        "VERIFICATION FAILED",
    )?;
    fails(
        url,
        &["certificate", "--parcel", "CLI-1", "--out", "title.pdf"],
        "*.html",
    )?;

    // An unregistered parcel: its absence is proven.
    let absent = ok_json(url, &["verify", "--parcel", "CLI-404"])?;
    ensure!(
        absent["verified"] == true && absent["registered"] == false,
        "{absent}"
    );
    Ok(())
}

#[test]
fn a_deal_from_proposal_to_settlement() -> Result<()> {
    let node = DevNode::start()?;
    let url = node.endpoint.as_str();
    let buyer = dev_address("buyer")?;
    ok(
        url,
        &[
            "parcel",
            "register",
            "--id",
            "CLI-D",
            "--address",
            "Seoul",
            "--area-m2",
            "84.97",
            "--owner",
            "dev:seller",
            "--dev",
            "official-1",
        ],
    )?;
    ok(
        url,
        &[
            "token",
            "mint",
            "--to",
            "dev:buyer",
            "--amount",
            "900000000",
            "--dev",
            "bank-b",
        ],
    )?;
    let opened = ok_json(
        url,
        &[
            "deal",
            "open",
            "--parcel",
            "CLI-D",
            "--seller",
            "dev:seller",
            "--buyer",
            "dev:buyer",
            "--price",
            "900,000,000",
            "--deadline",
            "+7d",
            "--lender",
            "dev:bank-b",
            "--max-mortgage",
            "600,000,000",
            "--dev",
            "broker",
        ],
    )?;
    let id = opened["deal_id"].as_u64().context("deal id")?.to_string();
    let id = id.as_str();
    // A proposal holds nothing; the seller's acceptance does.
    let held = ok_json(url, &["deal", "by-parcel", "CLI-D"])?;
    ensure!(held["deal_id"].is_null(), "{held}");
    fails(
        url,
        &["deal", "accept", id, "--dev", "broker"],
        "only the seller may accept",
    )?;
    ok(url, &["deal", "accept", id, "--dev", "seller"])?;
    let held = ok_json(url, &["deal", "by-parcel", "CLI-D"])?;
    ensure!(held["deal_id"].as_u64().map(|d| d.to_string()).as_deref() == Some(id));
    // Only the lender the terms name, only up to the agreed maximum.
    fails(
        url,
        &[
            "deal",
            "attach-mortgage",
            id,
            "--amount",
            "1",
            "--dev",
            "bank-a",
        ],
        "only the lender deal",
    )?;
    fails(
        url,
        &[
            "deal",
            "attach-mortgage",
            id,
            "--amount",
            "600,000,001",
            "--dev",
            "bank-b",
        ],
        "exceeds",
    )?;
    ok(
        url,
        &[
            "deal",
            "attach-mortgage",
            id,
            "--amount",
            "600,000,000",
            "--dev",
            "bank-b",
        ],
    )?;
    ok(url, &["deal", "fund", id, "--dev", "buyer"])?;
    let signed = ok(url, &["deal", "sign", id, "--dev", "seller"])?;
    ensure!(
        signed.contains("900,000,000 KRW") && signed.contains("new mortgage 600,000,000 KRW"),
        "sign must show the terms it signs: {signed}"
    );
    let queue = ok(url, &["deal", "queue"])?;
    ensure!(
        queue.contains("no deals awaiting approval"),
        "funded, one signature: not in the queue yet: {queue}"
    );
    ok(url, &["deal", "sign", id, "--dev", "buyer"])?;
    fails(
        url,
        &[
            "deal",
            "attach-mortgage",
            id,
            "--amount",
            "5",
            "--dev",
            "bank-b",
        ],
        "before the parties sign",
    )?;
    // Both signed: the officials' queue lists it until the threshold is reached.
    let queue = ok(url, &["deal", "queue"])?;
    ensure!(
        queue.contains(&format!("deal {id} "))
            && queue.contains("CLI-D")
            && queue.contains("900,000,000 KRW")
            && queue.contains("approvals 0"),
        "{queue}"
    );
    ok(url, &["deal", "approve", id, "--dev", "official-1"])?;
    let page = ok_json(url, &["deal", "queue", "--limit", "5"])?;
    let listed = page["deals"].as_array().context("deals")?;
    ensure!(
        listed.len() == 1
            && listed[0]["deal_id"]
                .as_u64()
                .map(|d| d.to_string())
                .as_deref()
                == Some(id)
            && listed[0]["approvals"].as_array().map(Vec::len) == Some(1),
        "one approval short of 2 of 3: still queued: {page}"
    );
    let after = ok_json(url, &["deal", "queue", "--after", id])?;
    ensure!(after["deals"] == serde_json::json!([]), "{after}");
    ok(url, &["deal", "approve", id, "--dev", "official-2"])?;
    let page = ok_json(url, &["deal", "queue"])?;
    ensure!(page["deals"] == serde_json::json!([]), "approved: {page}");
    ok(url, &["deal", "settle", id, "--dev", "official-3"])?;
    let shown = ok(url, &["deal", "show", id])?;
    ensure!(
        shown.contains("settled") && shown.contains("lender"),
        "{shown}"
    );
    let parcel = ok_json(url, &["parcel", "show", "CLI-D"])?;
    ensure!(parcel["owners"][0]["owner"] == buyer.as_str(), "{parcel}");
    ensure!(
        parcel["encumbrances"][0]["kind"]["mortgage"]["amount"] == "600000000",
        "{parcel}"
    );
    // The deal contract filed the transaction report when both had signed and completed it
    // at settlement: what the municipality reads.
    let report = ok_json(url, &["deal", "report", id])?;
    ensure!(
        report["status"] == "settled"
            && report["parcel_id"] == "CLI-D"
            && report["buyer"] == buyer.as_str()
            && report["price"] == "900000000"
            && report["settled_height"].is_u64()
            && report["payments"][0]["stage"] == "full",
        "{report}"
    );
    let listed = ok(url, &["deal", "reports"])?;
    ensure!(
        listed.contains("CLI-D") && listed.contains("settled"),
        "{listed}"
    );
    let shown = ok(url, &["deal", "report", id])?;
    ensure!(
        shown.contains("transaction report of deal") && shown.contains("report due by"),
        "{shown}"
    );

    // The new owner puts it up for sale; an official rejects the proposal, saying why.
    let again = ok_json(
        url,
        &[
            "deal",
            "open",
            "--parcel",
            "CLI-D",
            "--seller",
            "dev:buyer",
            "--buyer",
            "dev:seller",
            "--price",
            "1",
            "--deadline",
            "+1d",
            "--dev",
            "broker",
        ],
    )?;
    let id = again["deal_id"].as_u64().context("deal id")?.to_string();
    let id = id.as_str();
    fails(
        url,
        &["deal", "reject", id, "--dev", "official-1"],
        "--reason",
    )?;
    fails(
        url,
        &[
            "deal",
            "reject",
            id,
            "--reason",
            "   ",
            "--dev",
            "official-1",
        ],
        "a rejection must say why",
    )?;
    let too_long = "x".repeat(501);
    fails(
        url,
        &[
            "deal",
            "reject",
            id,
            "--reason",
            &too_long,
            "--dev",
            "official-1",
        ],
        "rejection reason too long: 501 bytes, at most 500 allowed",
    )?;
    let receipt = ok_json(
        url,
        &[
            "deal",
            "reject",
            id,
            "--reason",
            " The seller's seal does not match the registered seal. ",
            "--dev",
            "official-1",
        ],
    )?;
    let events = receipt["events"].as_array().context("events")?;
    ensure!(
        events.iter().any(|e| e["type"] == "deal_rejected"
            && e["attributes"]["reason"]
                == "The seller's seal does not match the registered seal."),
        "the deal_rejected event carries the trimmed reason: {receipt}"
    );
    let shown = ok(url, &["deal", "show", id])?;
    ensure!(
        shown.contains("rejected")
            && shown
                .contains("reason        The seller's seal does not match the registered seal."),
        "{shown}"
    );
    let shown = ok_json(url, &["deal", "show", id])?;
    ensure!(
        shown["rejection_reason"] == "The seller's seal does not match the registered seal.",
        "{shown}"
    );
    Ok(())
}

/// Makes the saved proof claim another owner.
fn tamper(path: &Path) -> Result<()> {
    let mut proof: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let value = proof["value"].as_str().context("value")?;
    let mut parcel: Value = serde_json::from_slice(&hex::decode(value)?)?;
    parcel["owners"][0]["owner"] = Value::String(format!("0x{}", "11".repeat(20)));
    proof["value"] = Value::String(hex::encode(serde_json::to_vec(&parcel)?));
    std::fs::write(path, serde_json::to_string(&proof)?)?;
    Ok(())
}

/// A `hanok node --dev` child process with extra arguments; killed on drop.
struct NodeProcess {
    child: std::process::Child,
    /// The endpoint the node printed, or the lines it printed before exiting.
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl NodeProcess {
    /// Starts `hanok node --dev` on a fresh data dir with `args`, and waits (with a deadline)
    /// for its `gRPC endpoint:` line. Fails with the node's output if it exits instead.
    fn start(args: &[&str]) -> Result<NodeProcess> {
        let dir = tempfile::tempdir()?;
        let data_dir = dir.path().to_str().context("utf-8 path")?.to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hanok"))
            .args(["node", "--dev", "--data-dir", &data_dir])
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("spawning hanok node")?;
        let stdout = child.stdout.take().context("stdout")?;
        let rx = stdout_lines(stdout);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(e) = line.strip_prefix("gRPC endpoint: ") {
                        return Ok(NodeProcess {
                            child,
                            endpoint: e.trim().to_string(),
                            _dir: dir,
                        });
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait()?;
                    bail!(
                        "the node printed no endpoint ({status}):\nstdout: {}",
                        seen.join("\n")
                    );
                }
            }
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn mutual_tls_lets_in_only_clients_of_the_ca() -> Result<()> {
    let certs = tempfile::tempdir()?;
    let dir = certs.path().to_str().context("utf-8 path")?;
    ok(
        NO_NODE,
        &["tls", "dev-certs", "--out", dir, "--client-org", "Bank A"],
    )?;
    let f = |name: &str| format!("{dir}/{name}");
    // A second, unrelated CA: its client certificate must be refused.
    let other = tempfile::tempdir()?;
    let other_dir = other.path().to_str().context("utf-8 path")?;
    ok(NO_NODE, &["tls", "dev-certs", "--out", other_dir])?;

    let node = NodeProcess::start(&[
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &f("node.pem"),
        "--tls-key",
        &f("node.key"),
        "--client-ca",
        &f("ca.pem"),
    ])?;
    let url = node.endpoint.clone();
    ensure!(url.starts_with("https://"), "{url}");

    // With the CA and a client certificate of the CA: served, read and write.
    let tls = [
        "--ca",
        &f("ca.pem"),
        "--cert",
        &f("client.pem"),
        "--key",
        &f("client.key"),
    ];
    let status = ok_json(&url, &[&["status"][..], &tls[..]].concat())?;
    ensure!(status["chain_id"] == "hanok-dev-1", "{status}");
    let buyer = dev_address("buyer")?;
    ok(
        &url,
        &[
            &[
                "token", "mint", "--dev", "bank-b", "--to", &buyer, "--amount", "5",
            ][..],
            &tls[..],
        ]
        .concat(),
    )?;

    // The same with the TLS key given as --tls-key and the signing key as --key.
    let signing = certs.path().join("bank-b.key");
    let bank_b = DevKeys::new()
        .get("bank-b")
        .context("bank-b")?
        .key
        .to_bytes();
    std::fs::write(&signing, format!("{}\n", hex_of(&bank_b)))?;
    let signing = signing.to_str().context("utf-8 path")?;
    ok(
        &url,
        &[
            "token",
            "mint",
            "--to",
            &buyer,
            "--amount",
            "5",
            "--key",
            signing,
            "--ca",
            &f("ca.pem"),
            "--cert",
            &f("client.pem"),
            "--tls-key",
            &f("client.key"),
        ],
    )?;
    let balance = ok_json(
        &url,
        &[&["token", "balance", &buyer][..], &tls[..]].concat(),
    )?;
    ensure!(balance["balance"] == "10", "{balance}");

    // Without a client certificate, with one of another CA, or in plaintext: nothing is read.
    let e = fails(
        &url,
        &["status", "--ca", &f("ca.pem")],
        "if it requires mutual TLS",
    )?;
    eprintln!("no client certificate: {e}");
    let e = fails(
        &url,
        &[
            "status",
            "--ca",
            &f("ca.pem"),
            "--cert",
            &format!("{other_dir}/client.pem"),
            "--key",
            &format!("{other_dir}/client.key"),
        ],
        "",
    )?;
    eprintln!("a client certificate of another CA: {e}");
    let plain = url.replacen("https://", "http://", 1);
    let e = fails(&plain, &["status"], "")?;
    eprintln!("plaintext to a TLS node: {e}");
    // An https endpoint without a CA is named as such before anything is sent.
    fails(&url, &["status"], "give the CA")?;
    Ok(())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn plaintext_on_a_public_address_needs_insecure() -> Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_hanok"))
        .args(["node", "--dev", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(tempfile::tempdir()?.path())
        .env("RUST_BACKTRACE", "0")
        .output()?;
    let (_, stderr) = text(&out);
    ensure!(!out.status.success(), "started in plaintext on 0.0.0.0");
    ensure!(
        stderr.contains("refusing to serve plaintext gRPC") && stderr.contains("--insecure"),
        "{stderr}"
    );
    // With --insecure it starts (and listens on every interface).
    let node = NodeProcess::start(&["--listen", "0.0.0.0:0", "--insecure"])?;
    ensure!(
        node.endpoint.starts_with("http://0.0.0.0:"),
        "{}",
        node.endpoint
    );
    Ok(())
}

#[test]
fn sigterm_stops_the_node_cleanly() -> Result<()> {
    let mut node = NodeProcess::start(&["--listen", "127.0.0.1:0"])?;
    ok(&node.endpoint, &["status"])?;
    let pid = node.child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status()?;
    ensure!(sent.success(), "kill -TERM failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = node.child.try_wait()? {
            break s;
        }
        ensure!(
            Instant::now() < deadline,
            "the node did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    ensure!(status.success(), "exit status after SIGTERM: {status}");
    Ok(())
}

// ---- bounded resources, metrics and logs, against a `hanok node` process -------------------

/// A `hanok node --dev` child process with a config file, metrics on, and its stderr kept;
/// killed on drop.
struct OpsNode {
    child: std::process::Child,
    endpoint: String,
    metrics: String,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl OpsNode {
    /// Starts the node with `config` (TOML lines added to `data_dir`) under a descriptor limit
    /// of `nofile` (soft and hard) if given, with `global` flags before `node`; waits for its
    /// `gRPC endpoint:` line.
    fn start(config: &str, nofile: Option<u32>, global: &[&str]) -> Result<OpsNode> {
        use std::io::BufRead;
        let dir = tempfile::tempdir()?;
        let data_dir = dir.path().join("data");
        let config_path = dir.path().join("node.toml");
        std::fs::write(
            &config_path,
            format!(
                "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\nblock_interval_ms = 20\n{config}",
                data_dir.to_str().context("utf-8 path")?
            ),
        )?;
        let hanok = env!("CARGO_BIN_EXE_hanok");
        let mut args: Vec<String> = global.iter().map(|s| s.to_string()).collect();
        args.extend(
            [
                "node",
                "--dev",
                "--config",
                config_path.to_str().context("utf-8 path")?,
                "--metrics",
                "127.0.0.1:0",
            ]
            .map(String::from),
        );
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(hanok)
                    .args(&args);
                c
            }
            None => {
                let mut c = Command::new(hanok);
                c.args(&args);
                c
            }
        };
        let mut child = cmd
            .env("RUST_BACKTRACE", "0")
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("spawning hanok node")?;
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let err_pipe = child.stderr.take().context("stderr")?;
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err_pipe)
                .lines()
                .map_while(|l| l.ok())
            {
                if let Ok(mut v) = lines.lock() {
                    v.push(line);
                }
            }
        });
        let stdout = child.stdout.take().context("stdout")?;
        let rx = stdout_lines(stdout);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut metrics = None;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(m) = line.strip_prefix("metrics: http://") {
                        metrics = m.strip_suffix("/metrics").map(str::to_string);
                    }
                    if let Some(e) = line.strip_prefix("gRPC endpoint: ") {
                        return Ok(OpsNode {
                            child,
                            endpoint: e.trim().to_string(),
                            metrics: metrics.context("no `metrics:` line")?,
                            stderr,
                            _dir: dir,
                        });
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait()?;
                    let err = stderr.lock().map(|v| v.join("\n")).unwrap_or_default();
                    bail!(
                        "the node printed no endpoint ({status}):\nstdout: {}\nstderr: {err}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    /// The node's resident memory, bytes (VmRSS).
    fn rss(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .context("VmRSS")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kb * 1024)
    }

    /// `GET /metrics` over plain HTTP/1.1.
    fn scrape(&self) -> Result<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.metrics)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics
        )?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        ensure!(text.starts_with("HTTP/1.1 200"), "{text}");
        Ok(text)
    }

    /// The value of the first series of the scrape that starts with `series` (a name with
    /// its labels, e.g. `hanok_connections_open` or `hanok_transactions_total{outcome="ok"}`).
    fn metric(&self, series: &str) -> Result<f64> {
        let text = self.scrape()?;
        let line = text
            .lines()
            .find(|l| {
                l.strip_prefix(series)
                    .is_some_and(|rest| rest.starts_with(' '))
            })
            .with_context(|| format!("no series `{series}` in\n{text}"))?;
        let value = line.rsplit(' ').next().context("value")?;
        Ok(value.parse()?)
    }

    /// Polls `metric(series)` until `ok` holds, with a deadline.
    fn wait_metric(&self, series: &str, ok: impl Fn(f64) -> bool) -> Result<f64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.metric(series)?;
            if ok(v) {
                return Ok(v);
            }
            ensure!(Instant::now() < deadline, "{series} stuck at {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for OpsNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Uploads `n` copies of a module as the authority (about 150 KB a transaction) and waits for
/// the last: a chain of a few MB, more than an HTTP/2 client's windows hold.
async fn fill_chain(client: &hanok_client::Client, n: u64) -> Result<u64> {
    let authority = hanok_client::Signer::dev("authority");
    let builder = client.tx_builder(&authority).await?;
    let first = client.next_nonce(authority.address()).await?;
    let mut last = None;
    for i in 0..n {
        let tx = builder
            .clone()
            .nonce(first + i)
            .memo(format!("fill {i}"))
            .upload(hanok_contracts::FIRST_HOME.to_vec())
            .sign(&authority)?;
        if i + 1 < n {
            client.submit(&tx).await?;
        } else {
            last = Some(client.submit_and_wait(&tx, Duration::from_secs(60)).await?);
        }
    }
    Ok(last.context("no transaction")?.height)
}

#[test]
fn unread_streams_and_idle_connections_cost_bounded_memory_and_are_dropped() -> Result<()> {
    use hanok_proto::v1::{ledger_client::LedgerClient, StreamBlocksRequest};
    use tonic::transport::Channel;
    let node = OpsNode::start(
        "subscription_stall_timeout_ms = 2000\nhandshake_timeout_ms = 1000\n\
         max_subscriptions_per_connection = 8\n",
        None,
        &[],
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = hanok_client::Client::connect(node.endpoint.clone()).await?;
        let height = fill_chain(&client, 32).await?;
        let chain_bytes: u64 =
            std::fs::metadata(node._dir.path().join("data/chain/blocks.log"))?.len();
        let rss_before = node.rss()?;

        // 4 connections with 8 subscriptions from height 0 each, never read; a 9th is refused.
        let mut streams = Vec::new();
        let mut channels = Vec::new();
        for _ in 0..4 {
            let ch = Channel::from_shared(node.endpoint.clone())?
                .connect()
                .await?;
            let mut c = LedgerClient::new(ch.clone());
            for _ in 0..8 {
                streams.push(
                    c.stream_blocks(StreamBlocksRequest { from_height: 0 })
                        .await?,
                );
            }
            let r = c
                .stream_blocks(StreamBlocksRequest { from_height: 0 })
                .await;
            let s = r
                .err()
                .context("a 9th subscription on one connection was accepted")?;
            ensure!(s.code() == tonic::Code::ResourceExhausted, "{s:?}");
            channels.push(ch);
        }
        // One more, alone on its connection, that reads late: it is told why it was dropped.
        let slow_ch = Channel::from_shared(node.endpoint.clone())?
            .connect()
            .await?;
        let mut slow = LedgerClient::new(slow_ch)
            .stream_blocks(StreamBlocksRequest { from_height: 0 })
            .await?
            .into_inner();
        // 100 connections that never send a byte.
        let mut idle = Vec::new();
        for _ in 0..100 {
            let addr = node.endpoint.trim_start_matches("http://");
            idle.push(std::net::TcpStream::connect(addr)?);
        }
        node.wait_metric("hanok_subscriptions_open", |v| v >= 33.0)?;
        let open = node.wait_metric("hanok_connections_open", |v| v >= 105.0)?;
        // Let every subscriber's window fill (they stall), then measure.
        let status_started = Instant::now();
        let status = hanok_client::Client::connect(node.endpoint.clone())
            .await?
            .status()
            .await?;
        let status_ms = status_started.elapsed().as_secs_f64() * 1e3;
        ensure!(status.height >= height);
        let rss_loaded = node.rss()?;
        let grew = rss_loaded.saturating_sub(rss_before) as f64 / MIB;
        println!(
            "chain {:.1} MiB; node RSS {:.1} MiB before, {:.1} MiB with 33 unread streams and \
             {open} connections (+{grew:.1} MiB); GetStatus meanwhile {status_ms:.1} ms",
            chain_bytes as f64 / MIB,
            rss_before as f64 / MIB,
            rss_loaded as f64 / MIB
        );
        // Unbounded, each stream would hold the whole chain: 33 × the chain.
        ensure!(
            grew < 96.0,
            "33 unread streams grew the node by {grew:.1} MiB (chain {:.1} MiB)",
            chain_bytes as f64 / MIB
        );

        // Idle connections are closed after the handshake timeout: past the server's own
        // SETTINGS frame, each reads to its end.
        for mut s in idle {
            use std::io::Read;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            let mut buf = [0u8; 256];
            let mut got = 0;
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        bail!("an idle connection was not closed (read {got} bytes)")
                    }
                    Err(_) => break,
                    Ok(n) => got += n,
                }
                ensure!(got < 4096, "an idle connection got {got} bytes");
            }
        }
        // Every stalled subscriber is dropped; the late reader gets RESOURCE_EXHAUSTED with
        // what to do, the others lose their connection.
        node.wait_metric(
            "hanok_subscriptions_dropped_total{reason=\"stalled\"}",
            |v| v >= 33.0,
        )?;
        let told = loop {
            match slow.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => bail!("the dropped stream ended without a status"),
                Err(s) => break s,
            }
        };
        ensure!(
            told.code() == tonic::Code::ResourceExhausted
                && told.message().contains("subscribe again from height"),
            "{told:?}"
        );
        node.wait_metric("hanok_subscriptions_open", |v| v == 0.0)?;
        node.wait_metric("hanok_connections_open", |v| v <= 2.0)?;
        drop(streams);
        drop(channels);
        let rss_after = node.rss()?;
        println!(
            "after the drops: node RSS {:.1} MiB",
            rss_after as f64 / MIB
        );
        // Blocks still flow.
        let h = fill_chain(&client, 1).await?;
        ensure!(h > height);
        Ok(())
    })
}

#[test]
fn the_descriptor_limit_holds_through_a_connection_flood_and_blocks_flow_again() -> Result<()> {
    let node = OpsNode::start(
        "max_connections = 100000\nhandshake_timeout_ms = 120000\n",
        Some(512),
        &["--log-format", "json"],
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = hanok_client::Client::connect(node.endpoint.clone()).await?;
        let cap = node.metric("hanok_connections_limit")?;
        let max_fds = node.metric("process_max_fds")?;
        ensure!(
            cap >= 8.0 && cap + 256.0 <= max_fds,
            "cap {cap} with a descriptor limit of {max_fds}"
        );
        // Flood: more connections than the limit could hold.
        let addr = node.endpoint.trim_start_matches("http://").to_string();
        let mut flood = Vec::new();
        for _ in 0..600 {
            match std::net::TcpStream::connect(&addr) {
                Ok(s) => flood.push(s),
                Err(_) => break,
            }
        }
        node.wait_metric("hanok_connections_open", |v| v >= cap)?;
        node.wait_metric("hanok_connections_refused_total", |v| v >= 1.0)?;
        let fds = node.metric("process_open_fds")?;
        println!(
            "descriptor limit {max_fds}, connection cap {cap}, {} flood connections opened, \
             node holds {fds} descriptors",
            flood.len()
        );
        ensure!(fds < max_fds, "{fds} descriptors open of {max_fds}");
        // Storage keeps its descriptors: blocks commit through the connection opened before.
        let before = node.metric("hanok_blocks_committed_total")?;
        fill_chain(&client, 3).await?;
        ensure!(node.metric("hanok_blocks_committed_total")? > before);
        // A new client is turned away while the flood lasts...
        let turned_away = match hanok_client::Client::connect(node.endpoint.clone()).await {
            Ok(c) => c.status().await.is_err(),
            Err(_) => true,
        };
        ensure!(turned_away, "a connection over the cap was served");
        // ...and served once it ends.
        drop(flood);
        node.wait_metric("hanok_connections_open", |v| v < cap)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let fresh = loop {
            if let Ok(c) = hanok_client::Client::connect(node.endpoint.clone()).await {
                if c.status().await.is_ok() {
                    break c;
                }
            }
            ensure!(
                Instant::now() < deadline,
                "no new connection served after the flood"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        fill_chain(&fresh, 1).await?;

        // The named series a dashboard needs are there.
        let text = node.scrape()?;
        for series in [
            "hanok_blocks_committed_total",
            "hanok_height",
            "hanok_transactions_total{outcome=\"ok\"}",
            "hanok_mempool_transactions",
            "hanok_signature_checks_pending",
            "hanok_block_stage_seconds_bucket{",
            "hanok_block_log_sync_seconds_bucket{",
            "hanok_connections_open",
            "hanok_subscriptions_open",
            "hanok_serving 1",
            "process_resident_memory_bytes",
            "process_open_fds",
        ] {
            ensure!(text.contains(series), "no `{series}` in\n{text}");
        }
        Ok::<_, anyhow::Error>(())
    })?;
    // --log-format json: every line a JSON object with a level and a message.
    let lines = node.stderr.lock().map(|v| v.clone()).unwrap_or_default();
    ensure!(!lines.is_empty(), "no log lines");
    for line in &lines {
        let v: Value = serde_json::from_str(line).with_context(|| format!("not JSON: {line}"))?;
        ensure!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    ensure!(
        lines
            .iter()
            .any(|l| l.contains("lowered the connection cap")),
        "no warning about the lowered cap in {lines:?}"
    );
    Ok(())
}

/// The lines a child prints on `stdout`, as they come. Reads to the end: a closed pipe would
/// make the node's next print fail.
fn stdout_lines(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(|l| l.ok())
        {
            let _ = tx.send(line);
        }
    });
    rx
}

/// Spouses co-own a flat and sell it whole, paid in stages; the buyer walks away before the
/// interim payment and forfeits the deposit, which the spouses share by their shares.
#[test]
fn co_owners_sell_in_stages_and_the_buyer_walks_away() -> Result<()> {
    let node = DevNode::start()?;
    let url = node.endpoint.as_str();
    let dir = tempfile::tempdir()?;
    let key = dir.path().join("spouse.key");
    let key_arg = key.to_str().context("utf-8 path")?;
    let spouse = ok_json(NO_NODE, &["keys", "new", "--out", key_arg])?["address"]
        .as_str()
        .context("address")?
        .to_string();
    ok(
        url,
        &[
            "identity",
            "enrol",
            &spouse,
            "--role",
            "citizen",
            "--dev",
            "authority",
        ],
    )?;
    let seller_share = format!("{}=4000", dev_address("seller")?);
    let spouse_share = format!("{spouse}=6000");
    ok(
        url,
        &[
            "parcel",
            "register",
            "--id",
            "CLI-S",
            "--address",
            "Seoul",
            "--area-m2",
            "84.97",
            "--owner",
            &seller_share,
            "--owner",
            &spouse_share,
            "--dev",
            "official-1",
        ],
    )?;
    ok(
        url,
        &[
            "token",
            "mint",
            "--to",
            "dev:buyer",
            "--amount",
            "900,000,000",
            "--dev",
            "bank-b",
        ],
    )?;
    let opened = ok_json(
        url,
        &[
            "deal",
            "open",
            "--parcel",
            "CLI-S",
            "--seller",
            "dev:seller",
            "--co-seller",
            &spouse,
            "--buyer",
            "dev:buyer",
            "--price",
            "900,000,000",
            "--deadline",
            "+30d",
            "--deposit",
            "90,000,000",
            "--deposit-due",
            "+1d",
            "--interim",
            "300,000,000",
            "--interim-due",
            "+10d",
            "--balance-due",
            "+29d",
            "--dev",
            "broker",
        ],
    )?;
    let id = opened["deal_id"].as_u64().context("deal id")?.to_string();
    let id = id.as_str();
    ok(url, &["deal", "accept", id, "--dev", "seller"])?;
    let shown = ok(url, &["deal", "show", id])?;
    ensure!(
        shown.contains("proposed") && shown.contains(&spouse),
        "one co-owner's acceptance binds nothing: {shown}"
    );
    ok(url, &["deal", "accept", id, "--key", key_arg])?;
    // `deal fund` pays the next stage: the deposit.
    let funded = ok(url, &["deal", "fund", id, "--dev", "buyer"])?;
    ensure!(funded.contains("90,000,000 KRW"), "{funded}");
    ok(url, &["deal", "sign", id, "--dev", "seller"])?;
    ok(url, &["deal", "sign", id, "--key", key_arg])?;
    ok(url, &["deal", "sign", id, "--dev", "buyer"])?;
    let report = ok_json(url, &["deal", "report", id])?;
    ensure!(
        report["status"] == "contracted" && report["co_sellers"][0] == spouse.as_str(),
        "the contract is concluded at the deposit: {report}"
    );
    ok(url, &["deal", "withdraw", id, "--dev", "buyer"])?;
    let balance = |who: &str| -> Result<String> {
        Ok(ok_json(url, &["token", "balance", who])?["balance"]
            .as_str()
            .context("balance")?
            .to_string())
    };
    ensure!(balance(&spouse)? == "54000000", "60 % of the deposit");
    ensure!(
        balance("dev:buyer")? == "810000000",
        "the rest stays the buyer's"
    );
    let shown = ok(url, &["deal", "show", id])?;
    ensure!(
        shown.contains("buyer_withdrew") && shown.contains("deposit"),
        "{shown}"
    );
    let report = ok_json(url, &["deal", "report", id])?;
    ensure!(report["status"] == "cancelled", "{report}");
    Ok(())
}

#[test]
fn the_tax_official_sets_the_rates_and_the_first_home_relief_is_claimed_once() -> Result<()> {
    let node = DevNode::start()?;
    let url = node.endpoint.as_str();
    let none = ok(url, &["tax", "rates"])?;
    ensure!(none.contains("no rate table"), "{none}");
    let set_rates = |signer: &str| {
        hanok(
            url,
            &[
                "tax",
                "set-rates",
                "--band",
                "600000000:100",
                "--band",
                "900,000,000:100-300",
                "--band",
                "max:300",
                "--relief",
                "1200000000:2000000",
                "--municipality",
                "dev:city",
                "--dev",
                signer,
            ],
        )
    };
    let by_buyer = text(&set_rates("buyer")?).1;
    ensure!(
        by_buyer.contains("only an enrolled tax-official may set the tax rates"),
        "{by_buyer}"
    );
    ensure!(set_rates("tax-official")?.status.success(), "set-rates");
    let rates = ok(url, &["tax", "rates"])?;
    ensure!(
        rates.contains("1.00 % rising to 3.00 %") && rates.contains("2,000,000 KRW off"),
        "{rates}"
    );
    let quote = ok(url, &["tax", "quote", "750,000,000"])?;
    ensure!(
        quote.contains("2.00 %") && quote.contains("15,000,000 KRW"),
        "{quote}"
    );
    let person = ok(url, &["identity", "person", "dev:buyer"])?;
    ensure!(
        person.contains("person "),
        "the dev buyer has a person hash: {person}"
    );
    let raw = fails(
        url,
        &[
            "identity",
            "enrol",
            "dev:tenant",
            "--role",
            "citizen",
            "--person-hash",
            "900101-1234567",
            "--dev",
            "authority",
        ],
        "raw resident number",
    )?;
    ensure!(
        !raw.contains("900101"),
        "the refusal repeats the number: {raw}"
    );
    let unclaimed = ok(url, &["tax", "relief", "dev:buyer"])?;
    ensure!(unclaimed.contains("unclaimed"), "{unclaimed}");

    ok(
        url,
        &[
            "parcel",
            "register",
            "--id",
            "CLI-T",
            "--address",
            "Seoul",
            "--area-m2",
            "59",
            "--owner",
            "dev:seller",
            "--dev",
            "official-1",
        ],
    )?;
    ok(
        url,
        &[
            "token",
            "mint",
            "--to",
            "dev:buyer",
            "--amount",
            "927,000,000",
            "--dev",
            "bank-b",
        ],
    )?;
    let opened = ok_json(
        url,
        &[
            "deal",
            "open",
            "--parcel",
            "CLI-T",
            "--seller",
            "dev:seller",
            "--buyer",
            "dev:buyer",
            "--price",
            "900,000,000",
            "--deadline",
            "+30d",
            "--dev",
            "broker",
        ],
    )?;
    let id = opened["deal_id"].as_u64().context("deal id")?.to_string();
    let id = id.as_str();
    ok(url, &["deal", "accept", id, "--dev", "seller"])?;
    let shown = ok(url, &["deal", "show", id])?;
    ensure!(
        shown.contains("tax quoted    27,000,000 KRW at 3.00 %"),
        "{shown}"
    );
    let funded = ok(url, &["deal", "fund", id, "--dev", "buyer"])?;
    ensure!(
        funded.contains("927,000,000 KRW"),
        "the price and the tax: {funded}"
    );
    ok(url, &["deal", "sign", id, "--dev", "seller"])?;
    ok(url, &["deal", "sign", id, "--dev", "buyer"])?;
    ok(url, &["deal", "approve", id, "--dev", "official-1"])?;
    ok(url, &["deal", "approve", id, "--dev", "official-2"])?;
    ok(url, &["deal", "settle", id, "--dev", "broker"])?;
    let shown = ok(url, &["deal", "show", id])?;
    ensure!(
        shown.contains("tax paid      25,000,000 KRW") && shown.contains("relief applied"),
        "{shown}"
    );
    let claimed = ok(url, &["tax", "relief", "dev:buyer"])?;
    ensure!(
        claimed.contains(&format!("claimed 2,000,000 KRW with deal {id}")),
        "{claimed}"
    );
    let city = ok_json(url, &["token", "balance", "dev:city"])?;
    ensure!(city["balance"] == "25000000", "{city}");
    Ok(())
}
