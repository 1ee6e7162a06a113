//! `hanok console` driven through a real browser: headless Chromium over WebDriver
//! (chromedriver), against two console processes (two officials) and an in-process dev node on
//! loopback gRPC. Screenshots of every page, in English and Korean, go to
//! `target/console-screenshots/`.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium`, `chromium-driver`, plus
//! `fonts-noto-cjk` for Korean glyphs); `.ci/install-browser` installs them and this test runs
//! it when they are missing. `HANOK_CHROMIUM` / `HANOK_CHROMEDRIVER` override the binaries.

use anyhow::{bail, ensure, Context, Result};
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use hanok_client::messages::deal::Status;
use hanok_client::messages::tax;
use hanok_client::{Client, LandUse, NewParcel, OpenDeal, Owner, Signer, TitleCertificate};
use hanok_node::dev::dev_genesis;
use hanok_node::{start, NodeConfig};
use hanok_types::Address;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PRICE: u128 = 900_000_000;
const LIEN: u128 = 300_000_000;
const LEASE: u128 = 250_000_000;
/// The acquisition tax on the price at the statutory 3 %.
const TAX: u128 = 27_000_000;
/// How long a page may take to show what the test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn which(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// chromium and chromedriver, installed by `.ci/install-browser` when missing.
fn browser_binaries() -> Result<(PathBuf, PathBuf)> {
    let find = || {
        Some((
            which(
                "HANOK_CHROMIUM",
                &["chromium", "chromium-browser", "google-chrome"],
            )?,
            which("HANOK_CHROMEDRIVER", &["chromedriver"])?,
        ))
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/install-browser");
    let status = Command::new("bash").arg(&script).status()?;
    ensure!(
        status.success(),
        "the console's browser tests need chromium and chromedriver; {} could not install \
         them (see its message above)",
        script.display()
    );
    find().context("chromium or chromedriver still missing after .ci/install-browser")
}

/// Where screenshots go: `target/console-screenshots/` next to the test binary's profile.
fn screenshot_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/console-… → target/
    let target = exe
        .ancestors()
        .nth(3)
        .context("the test binary is not under target/<profile>/deps")?;
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts chromedriver on a free port and waits until it answers.
fn chromedriver(driver: &Path) -> Result<(Proc, String)> {
    let port = free_port()?;
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", driver.display()))?;
    let proc = Proc(child);
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok((status, body)) = http(
            port,
            "GET",
            "/status",
            &format!("127.0.0.1:{port}"),
            None,
            "",
        ) {
            if status == 200 && body.contains("ready") {
                return Ok((proc, format!("http://127.0.0.1:{port}")));
            }
        }
        ensure!(Instant::now() < deadline, "chromedriver never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A minimal HTTP/1.1 exchange (the security checks need exact control of the headers).
fn http(
    port: u16,
    method: &str,
    path: &str,
    host: &str,
    cookie: Option<&str>,
    body: &str,
) -> Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    // Read the head, then the body by its Content-Length (a server may keep the connection).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if len.is_some_and(|len| body.len() >= len) {
                break;
            }
        }
    }
    let out = String::from_utf8_lossy(&buf).into_owned();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status")?;
    Ok((status, out))
}

/// A console process for dev account `who`; returns it with its sign-in link.
fn console(endpoint: &str, who: &str) -> Result<(Proc, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hanok"))
        .args(["console", "--dev", who, "--listen", "127.0.0.1:0"])
        .env("HANOK_ENDPOINT", endpoint)
        // Korea's time zone, as an official's machine would have it.
        .env("TZ", "KST-9")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let proc = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(|l| l.ok())
        {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .context("the console never printed its sign-in link")?;
        if let Some(url) = line.strip_prefix("open ") {
            return Ok((proc, url.trim().to_string()));
        }
    }
}

/// A headless Chromium session speaking `lang` (`en-US` / `ko-KR`).
async fn browser(webdriver: &str, chromium: &Path, lang: &str) -> Result<Browser> {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-extensions", "--no-first-run",
                "--window-size=1280,1800", format!("--lang={lang}"),
            ],
            "prefs": {"intl.accept_languages": lang},
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(webdriver)
        .await
        .context("starting a Chromium session through chromedriver")
}

async fn shot(b: &Browser, dir: &Path, name: &str) -> Result<()> {
    let png = b.screenshot().await?;
    std::fs::write(dir.join(format!("{name}.png")), png)?;
    Ok(())
}

/// Waits for `css` on the current page; on failure says which page it was and what it showed.
async fn element(b: &Browser, css: &str) -> Result<fantoccini::elements::Element> {
    match b
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => Ok(e),
        Err(e) => {
            let url = b
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let body = match b.find(Locator::Css("body")).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            bail!("no `{css}` on {url} ({e}); the page said:\n{body}")
        }
    }
}

async fn text_of(b: &Browser, css: &str) -> Result<String> {
    Ok(element(b, css).await?.text().await?)
}

async fn click(b: &Browser, css: &str) -> Result<()> {
    element(b, css).await?.click().await?;
    Ok(())
}

/// Polls until `css`'s text satisfies `ok`, without reloading the page.
async fn until_text(b: &Browser, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = match b.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ok(&text) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("`{css}` never showed {what}; last: {text:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Sys {
    registry: Address,
    krw: Address,
    escrow: Address,
    deal: Address,
    tax: Address,
}

async fn system(client: &Client) -> Result<Sys> {
    let all = client.all_contracts().await?;
    let find = |label: &str| -> Result<Address> {
        all.iter()
            .find(|c| c.label == label)
            .and_then(|c| Address::from_slice(&c.address))
            .with_context(|| format!("no `{label}` contract on the dev node"))
    };
    Ok(Sys {
        registry: find("registry")?,
        krw: find("krw")?,
        escrow: find("escrow")?,
        deal: find("deal")?,
        tax: find("tax")?,
    })
}

/// A deal on parcel `parcel` (with Bank A's lien and, given `payoff`, Bank A's payoff statement
/// for it), funded and signed by both parties: what waits in the officials' queue.
async fn signed_deal(
    client: &Client,
    sys: &Sys,
    parcel: &str,
    payoff: Option<u128>,
) -> Result<u64> {
    let official = Signer::dev("official-3");
    let (seller, buyer) = (Signer::dev("seller"), Signer::dev("buyer"));
    let registry = client.registry(sys.registry);
    registry
        .register_parcel(
            &official,
            &NewParcel {
                parcel_id: parcel.into(),
                lot_number: "대치동 316".into(),
                address: "서울특별시 강남구 대치동 316".into(),
                area_m2_hundredths: 8_497,
                land_use: LandUse::Residential,
                owners: vec![Owner {
                    owner: seller.address(),
                    share_bps: 10_000,
                }],
            },
        )
        .await?;
    let lien_id = registry
        .record_lien(&official, parcel, Signer::dev("bank-a").address(), LIEN)
        .await?;
    if let Some(amount) = payoff {
        let now = client.status().await?.latest_block_time;
        registry
            .file_payoff(
                &Signer::dev("bank-a"),
                parcel,
                lien_id,
                amount,
                now + 30 * 86_400,
            )
            .await?;
    }
    // The buyer rents the flat today: a registered lease ranks after Bank A's lien, and the
    // sale keeps it.
    let now = client.status().await?.latest_block_time;
    registry
        .record_lease(
            &official,
            parcel,
            buyer.address(),
            LEASE,
            (now, now + 2 * 365 * 86_400),
        )
        .await?;
    let krw = client.krw(sys.krw);
    // The price and the acquisition tax (3 % of 9억: 27,000,000).
    krw.mint(&Signer::dev("bank-b"), buyer.address(), PRICE + TAX)
        .await?;
    let deal = client.deal(sys.deal);
    let now = client.status().await?.latest_block_time;
    let id = deal
        .open(
            &Signer::dev("broker"),
            &OpenDeal {
                parcel_id: parcel.into(),
                seller: seller.address(),
                buyer: buyer.address(),
                price: PRICE,
                deadline: now + 7 * 24 * 3600,
                lender: None,
                co_sellers: Vec::new(),
                share_sale: false,
                schedule: None,
            },
        )
        .await?;
    deal.accept(&seller, id).await?;
    let due = deal.deal(id).await?.total_due().context("price + tax")?.0;
    ensure!(
        due == PRICE + TAX,
        "the deal quoted {due}, not the price and the tax"
    );
    krw.fund_escrow(&buyer, sys.escrow, id, due).await?;
    let terms = deal.terms(id).await?;
    deal.sign(&seller, id, &terms).await?;
    deal.sign(&buyer, id, &terms).await?;
    Ok(id)
}

#[test]
fn two_officials_approve_and_reject_in_the_browser() -> Result<()> {
    let (chromium, driver) = browser_binaries()?;
    let shots = screenshot_dir()?;
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut config = NodeConfig::dev(dir.path());
    config.listen = "127.0.0.1:0".parse()?;
    config.block_interval_ms = 20;
    let handle = rt.block_on(start(config, dev_genesis()))?;
    let endpoint = format!("http://{}", handle.local_addr);
    let result = rt.block_on(story(&endpoint, &chromium, &driver, &shots));
    let _ = rt.block_on(handle.shutdown());
    result
}

async fn story(endpoint: &str, chromium: &Path, driver: &Path, shots: &Path) -> Result<()> {
    let client = Client::connect(endpoint).await?;
    let sys = system(&client).await?;
    // The tax official sets this year's acquisition-tax rates (a deal quotes them when the
    // seller accepts); the buyer of the dev chain has never claimed the first-home relief.
    let tax = client.tax(sys.tax);
    tax.set_rates(
        &Signer::dev("tax-official"),
        &tax::home_bands(),
        Some(tax::FIRST_HOME_RELIEF),
        Signer::dev("city").address(),
    )
    .await?;
    let approve_id = signed_deal(&client, &sys, "WEB-1", Some(LIEN)).await?;
    // Bank A has filed no payoff statement for WEB-2's lien: its check fails.
    let reject_id = signed_deal(&client, &sys, "WEB-2", None).await?;

    let (_c1, link1) = console(endpoint, "official-1")?;
    let (_c2, link2) = console(endpoint, "official-2")?;
    let port1: u16 = link1
        .split(':')
        .nth(2)
        .and_then(|s| s.split('/').next())
        .and_then(|p| p.parse().ok())
        .context("the console's port")?;
    let base1 = link1.split("/login").next().unwrap_or_default().to_string();
    let base2 = link2.split("/login").next().unwrap_or_default().to_string();

    // Access rules, checked on the wire: no cookie, no page; another Host, no page; a form
    // without the console's token signs nothing.
    let (status, _) = http(port1, "GET", "/", &format!("127.0.0.1:{port1}"), None, "")?;
    ensure!(
        status == 401,
        "a request without the session cookie got {status}"
    );
    let token = link1.split("token=").nth(1).context("token")?;
    let cookie = format!("hanok_console={token}");
    let (status, _) = http(port1, "GET", "/", "evil.example:80", Some(&cookie), "")?;
    ensure!(status == 421, "a request for another Host got {status}");
    let (status, body) = http(
        port1,
        "POST",
        &format!("/deal/{approve_id}/approve"),
        &format!("127.0.0.1:{port1}"),
        Some(&cookie),
        "form_token=forged&confirm=yes",
    )?;
    ensure!(status == 403, "a forged form got {status}: {body}");
    // A console refuses to listen beyond loopback.
    let out = Command::new(env!("CARGO_BIN_EXE_hanok"))
        .args(["console", "--dev", "official-1", "--listen", "0.0.0.0:0"])
        .env("HANOK_ENDPOINT", endpoint)
        .output()?;
    ensure!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("loopback"),
        "a console on 0.0.0.0 must be refused: {:?}",
        out
    );

    let (_driver, webdriver) = chromedriver(driver)?;
    let en = browser(&webdriver, chromium, "en-US").await?;
    let ko = browser(&webdriver, chromium, "ko-KR").await?;
    let result = browse(
        &client,
        &sys,
        &en,
        &ko,
        (&link1, &base1),
        (&link2, &base2),
        approve_id,
        reject_id,
        shots,
    )
    .await;
    let _ = en.close().await;
    let _ = ko.close().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn browse(
    client: &Client,
    sys: &Sys,
    en: &Browser,
    ko: &Browser,
    (link1, base1): (&str, &str),
    (link2, base2): (&str, &str),
    approve_id: u64,
    reject_id: u64,
    shots: &Path,
) -> Result<()> {
    // Official 1 (English) signs in: the queue lists both deals, every check passed.
    en.goto(link1).await?;
    let title = text_of(en, "h1").await?;
    ensure!(title == "Transfers awaiting approval", "{title}");
    let card = text_of(en, &format!("#deal-{approve_id}")).await?;
    for words in [
        "WEB-1",
        "₩900,000,000",
        "₩300,000,000",
        "Registered lease",
        "₩250,000,000",
        "takes over the deposit",
        "0 / 2",
        "No court seizure",
        "Acquisition tax",
        "₩27,000,000",
    ] {
        ensure!(
            card.contains(words),
            "the queue's card lacks {words:?}: {card}"
        );
    }
    ensure!(
        en.find_all(Locator::Css(&format!("#deal-{approve_id} .fail")))
            .await?
            .is_empty(),
        "a check failed on a deal that passes them all: {card}"
    );
    let payoffs = text_of(
        en,
        &format!("#deal-{reject_id} li.fail[data-check=payoffs]"),
    )
    .await?;
    ensure!(
        payoffs.contains("no payoff statement from the bank yet"),
        "a lien without the bank's payoff statement must fail its check: {payoffs}"
    );
    ensure!(
        card.contains("UTC+09:00"),
        "dates in the official's time zone: {card}"
    );
    shot(en, shots, "queue-en").await?;

    // Official 2's browser asks for Korean and gets it.
    ko.goto(link2).await?;
    let title = text_of(ko, "h1").await?;
    ensure!(title == "승인 대기 중인 이전", "{title}");
    let lang = ko.find(Locator::Css("html")).await?.attr("lang").await?;
    ensure!(lang.as_deref() == Some("ko"), "{lang:?}");
    let card = text_of(ko, &format!("#deal-{approve_id}")).await?;
    ensure!(card.contains("900,000,000원"), "{card}");
    shot(ko, shots, "queue-ko").await?;

    // Official 1 opens the deal: the settlement's effect from Simulate, then approves.
    en.goto(&format!("{base1}/deal/{approve_id}")).await?;
    let effect = text_of(en, "#effect").await?;
    ensure!(
        effect.contains("₩300,000,000")
            && effect.contains("discharges its lien")
            && effect.contains("₩600,000,000")
            && effect.contains("moves to the buyer")
            && effect.contains("acquisition tax of ₩25,000,000")
            && effect.contains("₩2,000,000 goes back to the buyer"),
        "the effect must say who pays whom and where the title goes: {effect}"
    );
    shot(en, shots, "deal-en").await?;
    click(en, "#approve").await?;
    let q = text_of(en, "#question").await?;
    ensure!(q.contains("Approve this transfer?"), "{q}");
    shot(en, shots, "confirm-en").await?;
    click(en, "#confirm").await?;
    text_of(en, "#committed").await?;
    let receipt = text_of(en, "#receipt").await?;
    ensure!(receipt.contains("deal_approved"), "{receipt}");
    shot(en, shots, "receipt-en").await?;

    // Official 2's queue, open all along, shows the approval without a reload.
    until_text(
        ko,
        &format!("#deal-{approve_id} .approvals"),
        "1 / 2",
        |t| t == "1 / 2",
    )
    .await?;

    // Official 2 opens it in Korean and approves: the policy's 2 of 3 is met.
    ko.goto(&format!("{base2}/deal/{approve_id}")).await?;
    let effect = text_of(ko, "#effect").await?;
    ensure!(effect.contains("300,000,000원"), "{effect}");
    shot(ko, shots, "deal-ko").await?;
    click(ko, "#approve").await?;
    click(ko, "#confirm").await?;
    text_of(ko, "#committed").await?;
    shot(ko, shots, "receipt-ko").await?;

    let d = client.deal(sys.deal).deal(approve_id).await?;
    ensure!(
        d.status == Status::Approved,
        "deal {approve_id} is {:?}",
        d.status
    );
    ensure!(
        d.approvals
            == vec![
                Signer::dev("official-1").address(),
                Signer::dev("official-2").address()
            ],
        "{:?}",
        d.approvals
    );

    // Official 1 rejects the other deal with a reason.
    let reason = "Seller's identity documents do not match the register.";
    en.goto(&format!("{base1}/deal/{reject_id}")).await?;
    element(en, "#reason").await?.send_keys(reason).await?;
    click(en, "#reject").await?;
    let shown = text_of(en, "#reason-shown").await?;
    ensure!(shown == reason, "{shown}");
    click(en, "#confirm").await?;
    text_of(en, "#committed").await?;
    let d = client.deal(sys.deal).deal(reject_id).await?;
    ensure!(
        d.status == Status::Rejected,
        "deal {reject_id} is {:?}",
        d.status
    );
    ensure!(
        d.rejection_reason.as_deref() == Some(reason),
        "{:?}",
        d.rejection_reason
    );

    // Neither waits any more.
    en.goto(&format!("{base1}/")).await?;
    text_of(en, "#queue-empty").await?;

    // The node's refusals are shown in plain words, never as a trace.
    en.goto(&format!("{base1}/deal/999")).await?;
    let error = text_of(en, "#error").await?;
    ensure!(
        error.contains("deal 999 not found")
            && !error.contains("backtrace")
            && !error.contains(".rs:"),
        "{error}"
    );
    // The language link switches, and the choice sticks.
    en.goto(&format!("{base1}/")).await?;
    click(en, "#lang").await?;
    let title = text_of(en, "h1").await?;
    ensure!(title == "승인 대기 중인 이전", "{title}");
    en.goto(&format!("{base1}/?lang=en")).await?;

    // The parcel page, both languages, and its certificate.
    en.goto(&format!("{base1}/parcel/WEB-1")).await?;
    let owners = text_of(en, "#owners").await?;
    ensure!(owners.contains("100.00 %"), "{owners}");
    let enc = text_of(en, "#encumbrances").await?;
    ensure!(
        enc.contains("₩300,000,000")
            && enc.contains("Registered lease")
            && enc.contains("₩250,000,000"),
        "{enc}"
    );
    shot(en, shots, "parcel-en").await?;
    ko.goto(&format!("{base2}/parcel/WEB-1")).await?;
    let h = text_of(ko, "h1").await?;
    ensure!(h.contains("필지"), "{h}");
    shot(ko, shots, "parcel-ko").await?;
    click(en, "#certificate").await?;
    let page = en.source().await?;
    let certificate = TitleCertificate::from_html_or_json(&page)
        .map_err(|e| anyhow::anyhow!("the console's certificate does not parse: {e}"))?;
    let genesis = hanok_client::Hash::from_hex(&hex::encode(client.status().await?.genesis_hash))
        .context("the node's genesis hash")?;
    let checked = certificate
        .verify(&genesis)
        .map_err(|e| anyhow::anyhow!("the console's certificate does not verify: {e}"))?;
    ensure!(
        checked.title.parcel.is_some(),
        "the certificate proves WEB-1 absent"
    );
    shot(en, shots, "certificate").await?;
    let _ = base2;
    Ok(())
}
