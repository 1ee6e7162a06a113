//! A consortium as its members run it: `hanok consortium init` writes three members (the
//! registry and two banks), each starts as its own `hanok node --config` process on loopback
//! over mutual TLS, blocks are ordered by Raft and re-executed by every member.
//!
//! What is promised (docs/consortium.md): a client may talk to any member; a sale closes through
//! a follower, and so does a batch over a submit stream; every member holds the same block at
//! every height; a transaction any member acknowledged survives the leader's SIGKILL on every
//! survivor; a new leader is elected and the killed member catches up by itself; a restart of
//! all members loses nothing.

use anyhow::{bail, ensure, Context, Result};
use hanok_client::{Client, SignedTx, Signer, Tls, TxBuilder, DEFAULT_GAS_LIMIT};
use hanok_node::dev::{DevKeys, SystemContracts, DEV_CHAIN_ID};
use hanok_proto::v1::{self, ledger_client::LedgerClient};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_hanok");
const MEMBERS: [&str; 3] = ["registry", "bank-a", "bank-b"];
/// How long a member may take to open its chain and serve.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long the members may take to elect a leader (several election timeouts).
const ELECTION_DEADLINE: Duration = Duration::from_secs(30);
/// How long members may take to reach the same head.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);

/// One member's `hanok node --config` process. Dropping it kills it.
struct Member {
    name: &'static str,
    config: PathBuf,
    url: String,
    child: Option<Child>,
    /// Where its stderr goes (kept for a failing test's message).
    log: PathBuf,
    /// Extra environment variables.
    env: Vec<(&'static str, String)>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill9();
    }
}

impl Member {
    fn start(dir: &Path, name: &'static str, run: usize) -> Result<Member> {
        let mut m = Member::new(dir, name, run)?;
        m.spawn()?;
        Ok(m)
    }

    fn new(dir: &Path, name: &'static str, run: usize) -> Result<Member> {
        let config = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&config)?;
        let listen = text
            .lines()
            .find_map(|l| l.strip_prefix("listen = "))
            .context("listen in the config")?
            .trim_matches('"')
            .to_string();
        Ok(Member {
            name,
            config,
            url: format!("https://{listen}"),
            child: None,
            log: dir.join(format!("{name}-{run}.log")),
            env: Vec::new(),
        })
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::File::create(&self.log)?;
        let mut child = Command::new(BIN)
            .args(["--log", "info,openraft=warn", "node", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("spawning hanok node")?;
        let stdout = child.stdout.take().context("stdout")?;
        self.child = Some(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.starts_with("gRPC endpoint: ") => return Ok(()),
                Ok(_) => {}
                Err(_) => bail!(
                    "member {} did not serve within {START_DEADLINE:?}:\n{}",
                    self.name,
                    self.stderr()
                ),
            }
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`) to the process.
    fn signal(&self, sig: &str) -> Result<()> {
        let c = self.child.as_ref().context("not running")?;
        let sent = Command::new("kill")
            .args([&format!("-{sig}"), &c.id().to_string()])
            .status()?;
        ensure!(sent.success(), "kill -{sig} failed");
        Ok(())
    }

    /// SIGINT, and the exit status must be success.
    fn interrupt(&mut self) -> Result<()> {
        let Some(mut c) = self.child.take() else {
            return Ok(());
        };
        let sent = Command::new("kill")
            .args(["-INT", &c.id().to_string()])
            .status()?;
        ensure!(sent.success(), "kill -INT failed");
        let status = c.wait()?;
        ensure!(
            status.success(),
            "{} exited with {status}:\n{}",
            self.name,
            self.stderr()
        );
        Ok(())
    }
}

fn tls(dir: &Path) -> Result<Tls> {
    Ok(Tls::from_files(
        Some(&dir.join("ca.pem")),
        Some(&dir.join("client.pem")),
        Some(&dir.join("client.key")),
    )?)
}

async fn client(dir: &Path, m: &Member) -> Result<Client> {
    Ok(Client::connect_with(&m.url, Some(&tls(dir)?)).await?)
}

async fn ledger(dir: &Path, m: &Member) -> Result<LedgerClient<Channel>> {
    let channel = hanok_client::endpoint(&m.url, Some(&tls(dir)?))?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect()
        .await?;
    Ok(LedgerClient::new(channel))
}

async fn status(dir: &Path, m: &Member) -> Result<v1::GetStatusResponse> {
    Ok(ledger(dir, m)
        .await?
        .get_status(v1::GetStatusRequest {})
        .await?
        .into_inner())
}

/// Polls until every member in `members` names the same leader, which says it leads; returns
/// its name.
async fn agreed_leader(dir: &Path, members: &[&Member]) -> Result<String> {
    let deadline = Instant::now() + ELECTION_DEADLINE;
    loop {
        let mut leaders = Vec::new();
        let mut leading = Vec::new();
        for m in members {
            if let Ok(s) = status(dir, m).await {
                let c = s
                    .consensus
                    .context("a consortium member reports consensus")?;
                leaders.push(c.leader.map(|l| l.name));
                if c.role == "leader" {
                    leading.push(m.name.to_string());
                }
            }
        }
        if leaders.len() == members.len() && leading.len() == 1 {
            let l = leading.remove(0);
            if leaders.iter().all(|x| x.as_deref() == Some(l.as_str())) {
                return Ok(l);
            }
        }
        ensure!(
            Instant::now() < deadline,
            "no agreed leader within {ELECTION_DEADLINE:?}: leaders seen {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls until every member is at the same height (at least `min`); then compares the header
/// hash of every height and the state root on all of them.
async fn same_chain(dir: &Path, members: &[&Member], min: u64) -> Result<u64> {
    let deadline = Instant::now() + CATCH_UP_DEADLINE;
    let height = loop {
        let mut hs = Vec::new();
        for m in members {
            hs.push(status(dir, m).await.map(|s| s.height).unwrap_or(0));
        }
        if hs.iter().all(|h| *h == hs[0] && *h >= min) {
            break hs[0];
        }
        ensure!(
            Instant::now() < deadline,
            "members did not reach the same head within {CATCH_UP_DEADLINE:?}: heights {hs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut clients = Vec::new();
    for m in members {
        clients.push(ledger(dir, m).await?);
    }
    for h in 0..=height {
        let mut hashes = Vec::new();
        for c in &mut clients {
            let b = c
                .get_block(v1::GetBlockRequest {
                    height: Some(h),
                    ..Default::default()
                })
                .await?
                .into_inner();
            hashes.push(b.hash);
        }
        ensure!(
            hashes.iter().all(|x| *x == hashes[0]),
            "members hold different blocks at height {h}"
        );
    }
    let mut roots = Vec::new();
    for m in members {
        roots.push(status(dir, m).await?.state_root);
    }
    ensure!(roots.iter().all(|r| *r == roots[0]), "state roots differ");
    Ok(height)
}

fn dev_signer(keys: &DevKeys, name: &str) -> Result<Signer> {
    Ok(Signer::from_bytes(
        &keys.get(name).context("dev key")?.key.to_bytes(),
    )?)
}

/// Bank A mints to the buyer, one transaction after another, through `m`, until `stop`:
/// every acknowledged transaction (a receipt came back) with its receipt.
async fn load(
    client: Client,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(SignedTx, v1::Receipt)>>>,
) -> Result<()> {
    let keys = DevKeys::new();
    let sys = SystemContracts::of(&keys.authority().address);
    let buyer = keys.get("buyer").context("buyer")?.address;
    let bank = dev_signer(&keys, "bank-a")?;
    let mut nonce = client.next_nonce(bank.address()).await?;
    while !stop.load(SeqCst) {
        let tx = TxBuilder::new(DEV_CHAIN_ID)
            .nonce(nonce)
            .expiry_height(1_000_000)
            .gas_limit(DEFAULT_GAS_LIMIT)
            .execute(sys.krw, &json!({"mint": {"to": buyer, "amount": "1"}}))?
            .sign(&bank)?;
        match client.submit_and_wait(&tx, WAIT).await {
            Ok(r) => {
                ensure!(r.status == v1::TxStatus::Ok as i32, "{}", r.error);
                acked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((tx, r));
                nonce += 1;
            }
            // While the leader changes, the member may answer UNAVAILABLE or time out; the
            // same transaction is sent again (a duplicate is refused if it went through).
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                nonce = client.next_nonce(bank.address()).await.unwrap_or(nonce);
            }
        }
    }
    Ok(())
}

/// `n` mints by Bank A through `m`, each acknowledged before the next.
async fn mints(dir: &Path, m: &Member, n: usize) -> Result<Vec<(SignedTx, v1::Receipt)>> {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let task = tokio::spawn(load(client(dir, m).await?, stop.clone(), acked.clone()));
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap_or_else(|e| e.into_inner()).len() < n {
        ensure!(
            Instant::now() < deadline,
            "mints through {} made no progress",
            m.name
        );
        ensure!(!task.is_finished(), "the load stopped early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, SeqCst);
    task.await??;
    let out = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(out)
}

/// `n` mints by Bank B over one `SubmitStream` through `m`: every one answered with its
/// receipt, in commit order, and on chain. More than the 64 one account may have waiting, so on
/// a follower part of the batch waits for room at the leader.
async fn stream_mints(dir: &Path, m: &Member, n: u64) -> Result<()> {
    let keys = DevKeys::new();
    let sys = SystemContracts::of(&keys.authority().address);
    let buyer = keys.get("buyer").context("buyer")?.address;
    let bank = dev_signer(&keys, "bank-b")?;
    let client = client(dir, m).await?;
    let first = client.next_nonce(bank.address()).await?;
    let mut txs = Vec::new();
    for i in 0..n {
        txs.push(
            TxBuilder::new(DEV_CHAIN_ID)
                .nonce(first + i)
                .expiry_height(1_000_000)
                .gas_limit(DEFAULT_GAS_LIMIT)
                .execute(sys.krw, &json!({"mint": {"to": buyer, "amount": "1"}}))?
                .sign(&bank)?,
        );
    }
    let (mut sender, mut answers) = client.submit_stream().await?;
    let sending = tokio::spawn(async move {
        for tx in &txs {
            sender.send(tx).await?;
        }
        anyhow::Ok(())
    });
    let (mut got, mut last) = (0, None);
    while let Some(a) = tokio::time::timeout(Duration::from_secs(60), answers.next()).await?? {
        let r = a
            .outcome
            .with_context(|| format!("streamed mint {}", a.seq))?;
        ensure!(r.status == v1::TxStatus::Ok as i32, "{}", r.error);
        ensure!(last < Some((r.height, r.index)), "out of commit order");
        last = Some((r.height, r.index));
        got += 1;
    }
    sending.await??;
    ensure!(
        got == n,
        "{got} answers for {n} streamed mints through {}",
        m.name
    );
    ensure!(client.next_nonce(bank.address()).await? == first + n);
    Ok(())
}

/// Writes a consortium with `hanok consortium init` into `dir`.
fn init(dir: &Path) -> Result<()> {
    let init = Command::new(BIN)
        .args([
            "consortium",
            "init",
            "--members",
            &MEMBERS.join(","),
            "--out",
        ])
        .arg(dir)
        .output()?;
    ensure!(
        init.status.success(),
        "consortium init failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    Ok(())
}

/// [`init`], with members that snapshot every 10 entries and keep no log behind a snapshot:
/// a member that missed entries can only catch up by installing a snapshot.
fn init_purging(dir: &Path) -> Result<()> {
    init(dir)?;
    for m in MEMBERS {
        edit_config(dir, m, "snapshot_every = 5000", "snapshot_every = 10")?;
        edit_config(dir, m, "keep_logs = 1000", "keep_logs = 0")?;
    }
    Ok(())
}

/// Starts every member and waits for them to agree on a leader: the members and the leader's
/// name.
async fn start_all(dir: &Path) -> Result<(Vec<Member>, String)> {
    let mut members = Vec::new();
    for name in MEMBERS {
        members.push(Member::start(dir, name, 0)?);
    }
    let all: Vec<&Member> = members.iter().collect();
    let leader = agreed_leader(dir, &all).await?;
    Ok((members, leader))
}

/// Replaces `from` by `to` in a member's config.
fn edit_config(dir: &Path, name: &str, from: &str, to: &str) -> Result<()> {
    let path = dir.join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path)?;
    ensure!(text.contains(from), "{name}.toml has no `{from}`");
    std::fs::write(&path, text.replace(from, to))?;
    Ok(())
}

/// The KRW supply invariant on `m`: every won in circulation is held by someone (the dev
/// accounts and the system contracts are every holder there is), and the supply is `supply`.
async fn assert_supply(dir: &Path, m: &Member, supply: Option<u128>) -> Result<u128> {
    let keys = DevKeys::new();
    let sys = SystemContracts::of(&keys.authority().address);
    let c = client(dir, m).await?;
    let krw = c.krw(sys.krw);
    let total = krw.supply().await?;
    let mut held = 0u128;
    let holders = keys.all().iter().map(|a| a.address).chain([
        sys.identity,
        sys.registry,
        sys.krw,
        sys.escrow,
        sys.deal,
    ]);
    for a in holders {
        held += krw.balance(a).await?;
    }
    ensure!(
        held == total,
        "{}: balances add up to {held}, the supply is {total}",
        m.name
    );
    if let Some(s) = supply {
        ensure!(
            total == s,
            "{}: supply {total}, another member says {s}",
            m.name
        );
    }
    Ok(total)
}

async fn assert_present(dir: &Path, m: &Member, acked: &[(SignedTx, v1::Receipt)]) -> Result<()> {
    let mut l = ledger(dir, m).await?;
    for (tx, receipt) in acked {
        let found = l
            .get_transaction(v1::GetTransactionRequest {
                tx_hash: tx.hash().0.to_vec(),
            })
            .await
            .with_context(|| format!("an acknowledged tx is missing on {}", m.name))?
            .into_inner();
        ensure!(
            (found.height, found.index) == (receipt.height, receipt.index),
            "an acknowledged tx moved on {}",
            m.name
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_closes_through_a_follower_and_survives_the_leader() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("trial");
    init(&dir)?;
    for f in [
        "ca.pem",
        "genesis.json",
        "client.pem",
        "client.key",
        "registry.toml",
    ] {
        ensure!(dir.join(f).exists(), "consortium init wrote no {f}");
    }
    let (mut members, leader) = start_all(&dir).await?;
    let all: Vec<&Member> = members.iter().collect();

    // The acceptance story through a follower.
    let follower = members
        .iter()
        .find(|m| m.name != leader)
        .context("a follower")?;
    let follower_name = follower.name;
    let genesis_file = dir.join("genesis.json");
    let demo = cli_with_tls(
        &dir,
        &[
            "demo",
            "--deadline-secs",
            "3",
            "--endpoint",
            &follower.url,
            "--genesis",
            genesis_file.to_str().context("utf-8 path")?,
        ],
    )?;
    ensure!(
        demo.status.success(),
        "the story through follower {follower_name} failed:\n{}\n{}",
        String::from_utf8_lossy(&demo.stdout),
        String::from_utf8_lossy(&demo.stderr)
    );
    // A batch over one submit stream through the follower (forwarded to the leader).
    stream_mints(&dir, follower, 100).await?;
    let height = same_chain(&dir, &all, 2).await?;

    // Under load through a follower, SIGKILL the leader.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let load_task = tokio::spawn(load(
        client(&dir, follower).await?,
        stop.clone(),
        acked.clone(),
    ));
    let enough = |n: usize| {
        let acked = acked.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while acked.lock().unwrap_or_else(|e| e.into_inner()).len() < n {
                ensure!(Instant::now() < deadline, "the load made no progress");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<_, anyhow::Error>(())
        }
    };
    enough(10).await?;
    let li = members
        .iter()
        .position(|m| m.name == leader)
        .context("leader index")?;
    members[li].kill9();
    let killed_at = Instant::now();
    let survivors: Vec<&Member> = members.iter().filter(|m| m.name != leader).collect();
    let new_leader = agreed_leader(&dir, &survivors).await?;
    let election = killed_at.elapsed();
    ensure!(new_leader != leader, "the killed member still leads");
    let before = acked.lock().unwrap_or_else(|e| e.into_inner()).len();
    enough(before + 10).await?;
    stop.store(true, SeqCst);
    load_task.await??;
    let acked: Vec<_> = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for m in &survivors {
        assert_present(&dir, m, &acked).await?;
    }
    let survivors_height = same_chain(&dir, &survivors, height).await?;

    // The killed member restarts and catches up by itself.
    members[li].spawn()?;
    let all: Vec<&Member> = members.iter().collect();
    let caught_up = same_chain(&dir, &all, survivors_height).await?;
    assert_present(&dir, &members[li], &acked).await?;

    // All three stop and start again from their data directories: nothing is lost.
    for m in &mut members {
        m.interrupt()?;
    }
    for m in &mut members {
        m.spawn()?;
    }
    let all: Vec<&Member> = members.iter().collect();
    agreed_leader(&dir, &all).await?;
    let after = same_chain(&dir, &all, caught_up).await?;
    ensure!(
        after == caught_up,
        "the head moved across a restart: {caught_up} → {after}"
    );
    let mut supply = None;
    for m in &members {
        assert_present(&dir, m, &acked).await?;
        supply = Some(assert_supply(&dir, m, supply).await?);
    }
    println!(
        "consortium: story through {follower_name}; leader {leader} killed, {new_leader} elected \
         in {:.0?}; {} load txs acknowledged, all present on every member at height {after}",
        election,
        acked.len()
    );
    Ok(())
}

/// A member whose re-execution differs (a test-only perturbation from height 4) halts, says why,
/// refuses writes, and the two others go on; a member started from another genesis is refused
/// with both hashes named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverging_member_halts_and_a_foreign_genesis_is_refused() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("trial");
    init(&dir)?;
    // bank-b joins after the other two elected a leader, so it follows and re-executes.
    let registry = Member::start(&dir, "registry", 0)?;
    let bank_a = Member::start(&dir, "bank-a", 0)?;
    agreed_leader(&dir, &[&registry, &bank_a]).await?;
    let mut bank_b = Member::new(&dir, "bank-b", 0)?;
    bank_b
        .env
        .push(("HANOK_TEST_ONLY_PERTURB_FROM_HEIGHT", "4".into()));
    bank_b.spawn()?;
    mints(&dir, &registry, 6).await?;
    let deadline = Instant::now() + CATCH_UP_DEADLINE;
    let halted = loop {
        let c = status(&dir, &bank_b)
            .await?
            .consensus
            .context("consensus status")?;
        if !c.halted.is_empty() {
            break c;
        }
        ensure!(Instant::now() < deadline, "bank-b never halted: {c:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(
        halted.halted.contains("state root") && halted.applied_height < 4,
        "the halt must name the roots, at the first block that differs: {halted:?}"
    );
    let refused = client(&dir, &bank_b)
        .await?
        .krw(SystemContracts::of(&DevKeys::new().authority().address).krw)
        .mint(
            &dev_signer(&DevKeys::new(), "bank-a")?,
            DevKeys::new().get("buyer").context("buyer")?.address,
            1,
        )
        .await;
    ensure!(refused.is_err(), "a halted member took a write");
    // The others go on.
    let before = status(&dir, &registry).await?.height;
    mints(&dir, &bank_a, 3).await?;
    let after = same_chain(&dir, &[&registry, &bank_a], before + 3).await?;
    ensure!(
        status(&dir, &bank_b).await?.height < after,
        "the halted member applied more blocks"
    );
    bank_b.kill9();

    // bank-b comes back with a certificate from another CA: the others refuse it in the TLS
    // handshake, before any Raft message; it says why and never applies a block.
    let other_ca = dir.join("other-ca");
    let made = Command::new(BIN)
        .args(["tls", "dev-certs", "--out"])
        .arg(&other_ca)
        .output()?;
    ensure!(made.status.success(), "tls dev-certs failed");
    let text = std::fs::read_to_string(dir.join("bank-b.toml"))?;
    let path = |f: &str| dir.join(f).display().to_string();
    let foreign = text
        .replace(
            &path("bank-b.pem"),
            &other_ca.join("node.pem").display().to_string(),
        )
        .replace(
            &path("bank-b.key"),
            &other_ca.join("node.key").display().to_string(),
        )
        .replace("bank-b-data", "bank-b-foreign-data");
    std::fs::write(dir.join("bank-b-foreign.toml"), foreign)?;
    let mut foreign = Member::new(&dir, "bank-b", 1)?;
    foreign.config = dir.join("bank-b-foreign.toml");
    foreign.log = dir.join("bank-b-foreign.log");
    foreign.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !foreign.stderr().contains("over a certificate") {
        ensure!(
            Instant::now() < deadline,
            "a member with a foreign certificate did not say why it cannot join:\n{}",
            foreign.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    mints(&dir, &registry, 1).await?;
    let s = status(&dir, &registry).await?;
    ensure!(s.height > 1, "the others go on");
    foreign.kill9();
    let replayed = std::fs::read_to_string(&foreign.log)?;
    ensure!(
        !replayed.contains("block committed") && !replayed.contains("installed snapshot"),
        "the member with a foreign certificate applied blocks"
    );

    // bank-b comes back on another genesis (another time): refused, both hashes named.
    let genesis = std::fs::read_to_string(dir.join("genesis.json"))?;
    let other = genesis.replacen("\"time\": ", "\"time\": 1", 1);
    ensure!(other != genesis, "genesis.json has no time field");
    std::fs::write(dir.join("genesis-other.json"), other)?;
    edit_config(&dir, "bank-b", "genesis.json", "genesis-other.json")?;
    edit_config(&dir, "bank-b", "bank-b-data", "bank-b-other-data")?;
    let out = Command::new(BIN)
        .args(["node", "--config"])
        .arg(dir.join("bank-b.toml"))
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "a member on another genesis started");
    ensure!(
        stderr.contains("runs another genesis") && stderr.matches("genesis hash").count() >= 1,
        "the refusal must say why and name both hashes:\n{stderr}"
    );
    Ok(())
}

/// A follower stopped (SIGSTOP) while the others commit past their log's purge point installs
/// a snapshot when it resumes, and ends on the same chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_follower_catches_up_through_a_snapshot() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("trial");
    init_purging(&dir)?;
    let (members, leader) = start_all(&dir).await?;
    let paused = members
        .iter()
        .find(|m| m.name != leader)
        .context("a follower")?;
    let active = members
        .iter()
        .find(|m| m.name == leader)
        .context("the leader")?;
    paused.signal("STOP")?;
    let acked = mints(&dir, active, 40).await?;
    paused.signal("CONT")?;
    let all: Vec<&Member> = members.iter().collect();
    same_chain(&dir, &all, 40).await?;
    assert_present(&dir, paused, &acked).await?;
    ensure!(
        paused.stderr().contains("installed snapshot"),
        "{} caught up without a snapshot:\n{}",
        paused.name,
        paused.stderr()
    );

    // A title certificate from a consortium carries a quorum: the block's proposer and the
    // other members' attestations of its header. Without them it does not verify.
    let genesis = hex::encode(status(&dir, paused).await?.genesis_hash);
    let cert = dir.join("certificate.json");
    let cli = |args: &[&str]| cli_with_tls(&dir, args);
    let cert_arg = cert.to_str().context("utf-8 path")?;
    let wrote = cli(&[
        "certificate",
        "--parcel",
        "NOT-REGISTERED",
        "--out",
        cert_arg,
        "--endpoint",
        &paused.url,
    ])?;
    ensure!(
        wrote.status.success(),
        "certificate: {}",
        String::from_utf8_lossy(&wrote.stderr)
    );
    let checked = cli(&["verify", "--certificate", cert_arg, "--genesis", &genesis])?;
    let said = String::from_utf8_lossy(&checked.stdout);
    ensure!(
        checked.status.success() && said.contains("vouched for by 3 of the 3"),
        "verify: {said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let mut alone: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cert)?)?;
    alone["attestations"] = json!([]);
    std::fs::write(&cert, alone.to_string())?;
    let refused = cli(&["verify", "--certificate", cert_arg, "--genesis", &genesis])?;
    let said = String::from_utf8_lossy(&refused.stderr);
    ensure!(
        !refused.status.success() && said.contains("a quorum is 2"),
        "a single signature passed: {said}"
    );
    Ok(())
}

/// `hanok consortium add-member` for `bank-c` through `via`, signed as dev account `signer`.
fn add_member(dir: &Path, via: &Member, signer: &str) -> Result<std::process::Output> {
    let config = dir.join("bank-c.toml");
    let config = config.to_str().context("utf-8 path")?;
    cli_with_tls(
        dir,
        &[
            "consortium",
            "add-member",
            "--config",
            config,
            "--dev",
            signer,
            "--wait",
            "90",
            "--endpoint",
            &via.url,
        ],
    )
}

/// `hanok ARGS` with the consortium's client TLS flags.
fn cli_with_tls(dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    Ok(Command::new(BIN)
        .args(args)
        .arg("--ca")
        .arg(dir.join("ca.pem"))
        .arg("--cert")
        .arg(dir.join("client.pem"))
        .arg("--key")
        .arg(dir.join("client.key"))
        .output()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_bank_joins_at_runtime_and_votes() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("trial");
    // The leader purges its log: the newcomer can only join through a snapshot.
    init_purging(&dir)?;
    let (mut members, _) = start_all(&dir).await?;
    let before = mints(&dir, &members[1], 15).await?;

    let prepared = Command::new(BIN)
        .args(["consortium", "new-member", "--name", "bank-c", "--out"])
        .arg(&dir)
        .output()?;
    ensure!(
        prepared.status.success(),
        "new-member failed: {}",
        String::from_utf8_lossy(&prepared.stderr)
    );
    let newcomer = Member::start(&dir, "bank-c", 0)?;

    // Only the genesis authority may add a member.
    let refused = add_member(&dir, &members[2], "bank-a")?;
    let said = String::from_utf8_lossy(&refused.stderr);
    ensure!(
        !refused.status.success() && said.contains("only the genesis authority"),
        "a bank added a member: {said}"
    );
    let added = add_member(&dir, &members[2], "authority")?;
    let said = String::from_utf8_lossy(&added.stdout);
    ensure!(
        added.status.success() && said.contains("votes"),
        "add-member failed: {said}\n{}\nnewcomer:\n{}",
        String::from_utf8_lossy(&added.stderr),
        newcomer.stderr()
    );
    ensure!(
        newcomer.stderr().contains("installed snapshot"),
        "bank-c joined without a snapshot:\n{}",
        newcomer.stderr()
    );
    members.push(newcomer);
    let all: Vec<&Member> = members.iter().collect();
    let height = same_chain(&dir, &all, 1).await?;

    // Four voters: with a founder killed (the leader, unless bank-c leads), the three others
    // are exactly a quorum, so no leader is elected and nothing commits unless bank-c votes.
    let leader = agreed_leader(&dir, &all).await?;
    let victim = if leader == "bank-c" {
        MEMBERS[0]
    } else {
        leader.as_str()
    };
    let at = members
        .iter()
        .position(|m| m.name == victim)
        .context("the member to kill")?;
    members[at].kill9();
    let victim = members[at].name;
    let survivors: Vec<&Member> = members.iter().filter(|m| m.name != victim).collect();
    agreed_leader(&dir, &survivors).await?;
    let newcomer = members
        .iter()
        .find(|m| m.name == "bank-c")
        .context("bank-c")?;
    let after = mints(&dir, newcomer, 5).await?;
    same_chain(&dir, &survivors, height + 1).await?;
    for m in &survivors {
        assert_present(&dir, m, &before).await?;
        assert_present(&dir, m, &after).await?;
    }
    Ok(())
}
