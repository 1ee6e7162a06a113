//! Crash safety of the `hanok` binary, as an operator meets it: the node runs as a child
//! process on a data directory, is killed with SIGKILL under load and restarted on the same
//! directory; its block log gets a torn or corrupt tail.
//!
//! What is promised (`docs/storage.md`, `docs/operations.md`): a block is in the log and fsynced
//! before any client hears "committed"; the log is the truth and the state store is rebuilt from
//! it. On open only an *incomplete* last record (torn by a crash mid-append) is cut; a complete
//! record that fails its checksum, anywhere, is refused with the file left byte-identical and a
//! message saying where and how to restore it; a state store ahead of the log is refused; a
//! damaged state store is moved aside and rebuilt.
//!
//! The data directory layout these tests rely on: `<data_dir>/chain/blocks.log` (the block log,
//! `hanok_chain::Chain::open`), `<data_dir>/chain/state` (sled and the tree's node file
//! `tree.nodes`, derived) and
//! `<data_dir>/module-cache` (compiled contracts, derived).

use anyhow::{bail, ensure, Context, Result};
use hanok_client::{Client, SignedTx, Signer, TxBuilder, DEFAULT_GAS_LIMIT};
use hanok_node::dev::{DevKeys, SystemContracts, DEV_CHAIN_ID};
use hanok_proto::v1::{self, ledger_client::LedgerClient};
use serde_json::json;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::Code;

const BIN: &str = env!("CARGO_BIN_EXE_hanok");
/// How long a node may take to open its chain (replay, compile the contracts) and listen.
const START_DEADLINE: Duration = Duration::from_secs(40);
/// How long a node may take to exit (refusing to start, or after ctrl-c).
const EXIT_DEADLINE: Duration = Duration::from_secs(30);
/// How long the load may take to get `KILL_AFTER` transactions committed.
const LOAD_DEADLINE: Duration = Duration::from_secs(30);
/// SIGKILL once at least this many transactions were reported committed.
const KILL_AFTER: usize = 100;
/// Concurrent submitters per account (consecutive nonces in flight at once).
const LANES_PER_ACCOUNT: usize = 3;
/// `SubmitAndWait` timeout of the load.
const WAIT: Duration = Duration::from_secs(10);
const EXPIRY_HEIGHT: u64 = 1_000_000;

const LOG_MAGIC: &[u8] = b"HANOKLOG";
const LOG_HEADER_LEN: usize = 12;
/// `u32 len | u64 height | 8-byte head checksum` before the payload, sha256 after it.
const RECORD_HEAD_LEN: usize = 20;
const CHECKSUM_LEN: usize = 32;

fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join("chain").join("blocks.log")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `hanok node --dev` child process. Dropping it kills it (SIGKILL) and reaps it, so no test
/// path leaves a node behind.
struct NodeProcess {
    child: Child,
    /// stdout, line by line; disconnected once the process closed stdout (it exited).
    lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    /// `http://127.0.0.1:<port>` once it listens.
    url: String,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProcess {
    /// Starts `hanok node --dev --data-dir <data_dir> --listen 127.0.0.1:0` without waiting.
    fn spawn(data_dir: &Path) -> Result<NodeProcess> {
        NodeProcess::spawn_with(data_dir, &[])
    }

    /// As [`Self::spawn`], with more arguments.
    fn spawn_with(data_dir: &Path, more: &[&std::ffi::OsStr]) -> Result<NodeProcess> {
        let mut command = Command::new(BIN);
        command
            .args(["node", "--dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(more);
        NodeProcess::spawn_command(command)
    }

    /// Runs `command`, which must end up exec'ing `hanok node`, without waiting.
    fn spawn_command(mut command: Command) -> Result<NodeProcess> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {command:?}"))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (tx, lines) = mpsc::channel();
        // The guard exists before anything else can fail.
        let mut node = NodeProcess {
            child,
            lines,
            stderr: None,
            url: String::new(),
        };
        let stdout = stdout.context("child stdout")?;
        // Reads stdout to its end (so the child never blocks on a full pipe).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut stderr = stderr.context("child stderr")?;
        node.stderr = Some(std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        }));
        Ok(node)
    }

    /// Starts a node and waits (with a deadline) until it prints its endpoint.
    fn start(data_dir: &Path) -> Result<NodeProcess> {
        NodeProcess::start_with(data_dir, &[])
    }

    /// As [`Self::start`], with more arguments.
    fn start_with(data_dir: &Path, more: &[&std::ffi::OsStr]) -> Result<NodeProcess> {
        NodeProcess::wait_listening(NodeProcess::spawn_with(data_dir, more)?)
    }

    /// Waits (with a deadline) until a spawned node prints its endpoint.
    fn wait_listening(mut node: NodeProcess) -> Result<NodeProcess> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            match node
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("gRPC endpoint: ") {
                        ensure!(
                            url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
                            "the endpoint line must name the real port: {line}"
                        );
                        node.url = url.trim().to_string();
                        return Ok(node);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("the node printed no endpoint within {START_DEADLINE:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let (status, _, stderr) = node.wait_exit()?;
                    bail!("the node exited ({status}) before listening:\n{stderr}");
                }
            }
        }
    }

    /// Waits (with a deadline) until the process exits by itself: its stdout lines, exit status
    /// and stderr.
    fn wait_exit(&mut self) -> Result<(ExitStatus, Vec<String>, String)> {
        let deadline = Instant::now() + EXIT_DEADLINE;
        let mut out = Vec::new();
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => out.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("the node was still running after {EXIT_DEADLINE:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // stdout is closed: the process is exiting.
        let status = self.child.wait()?;
        let stderr = match self.stderr.take() {
            Some(t) => t.join().unwrap_or_default(),
            None => String::new(),
        };
        Ok((status, out, stderr))
    }

    /// SIGKILL, and reap.
    fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGINT (ctrl-c): the node must shut down gracefully and exit 0.
    fn interrupt(mut self) -> Result<()> {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .context("running kill -INT")?;
        ensure!(sent.success(), "kill -INT failed: {sent}");
        let (status, _, stderr) = self.wait_exit()?;
        ensure!(
            status.success(),
            "after ctrl-c the node exited with {status}:\n{stderr}"
        );
        Ok(())
    }

    /// As [`Self::interrupt`], returning what the node logged.
    fn interrupt_keep_stderr(mut self) -> Result<String> {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .context("running kill -INT")?;
        ensure!(sent.success(), "kill -INT failed: {sent}");
        let (status, _, stderr) = self.wait_exit()?;
        ensure!(
            status.success(),
            "after ctrl-c the node exited with {status}:\n{stderr}"
        );
        Ok(stderr)
    }

    async fn ledger(&self) -> Result<LedgerClient<Channel>> {
        Ok(LedgerClient::connect(self.url.clone()).await?)
    }

    async fn client(&self) -> Result<Client> {
        Ok(Client::connect(self.url.clone()).await?)
    }
}

/// Runs a node that must refuse to start: it exits non-zero, never prints an endpoint, and its
/// stderr is returned.
fn expect_refusal(data_dir: &Path) -> Result<String> {
    let mut node = NodeProcess::spawn(data_dir)?;
    let (status, out, stderr) = node.wait_exit()?;
    ensure!(
        !out.iter().any(|l| l.starts_with("gRPC endpoint:")),
        "the node started:\n{}",
        out.join("\n")
    );
    ensure!(!status.success(), "the node exited 0:\n{stderr}");
    Ok(stderr)
}

async fn status(ledger: &mut LedgerClient<Channel>) -> Result<v1::GetStatusResponse> {
    Ok(ledger
        .get_status(v1::GetStatusRequest::default())
        .await?
        .into_inner())
}

async fn block(ledger: &mut LedgerClient<Channel>, height: u64) -> Result<v1::GetBlockResponse> {
    Ok(ledger
        .get_block(v1::GetBlockRequest {
            height: Some(height),
            ..Default::default()
        })
        .await
        .with_context(|| format!("GetBlock {height}"))?
        .into_inner())
}

async fn get_tx(
    ledger: &mut LedgerClient<Channel>,
    hash: &[u8; 32],
) -> std::result::Result<v1::GetTransactionResponse, tonic::Status> {
    Ok(ledger
        .get_transaction(v1::GetTransactionRequest {
            tx_hash: hash.to_vec(),
        })
        .await?
        .into_inner())
}

async fn get_receipt(ledger: &mut LedgerClient<Channel>, hash: &[u8; 32]) -> Result<v1::Receipt> {
    ledger
        .get_receipt(v1::GetReceiptRequest {
            tx_hash: hash.to_vec(),
        })
        .await?
        .into_inner()
        .receipt
        .context("GetReceipt returned no receipt")
}

/// A dev account's signer (seed `hanok-dev/<name>`, as `hanok_node::dev` derives it).
fn dev_signer(keys: &DevKeys, name: &str) -> Result<Signer> {
    let signer = Signer::dev(name);
    let account = keys.get(name).context("no such dev account")?;
    ensure!(signer.address() == account.address, "dev seed of {name}");
    Ok(signer)
}

/// `(height, start, end)` byte ranges of the records of a block log.
fn records(log: &[u8]) -> Result<Vec<(u64, usize, usize)>> {
    ensure!(log.starts_with(LOG_MAGIC), "not a block log");
    let mut out = Vec::new();
    let mut off = LOG_HEADER_LEN;
    while off < log.len() {
        let head = log
            .get(off..off + RECORD_HEAD_LEN)
            .context("partial record head")?;
        let len = u32::from_le_bytes(head[..4].try_into()?) as usize;
        let height = u64::from_le_bytes(head[4..12].try_into()?);
        let end = off + RECORD_HEAD_LEN + len + CHECKSUM_LEN;
        ensure!(end <= log.len(), "record at byte {off} runs past the end");
        out.push((height, off, end));
        off = end;
    }
    Ok(out)
}

/// A data directory holding only `log` (no state store, no module cache).
fn log_only_dir(log: &[u8]) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("chain"))?;
    std::fs::write(log_path(dir.path()), log)?;
    Ok(dir)
}

fn file_len(path: &Path) -> Result<usize> {
    Ok(usize::try_from(std::fs::metadata(path)?.len())?)
}

/// Builds an account's transaction with a given nonce.
type Build = Arc<dyn Fn(u64) -> Result<SignedTx> + Send + Sync>;

/// A transaction the node reported committed (`SubmitAndWait` returned its receipt).
#[derive(Clone)]
struct Reported {
    hash: [u8; 32],
    tx: v1::SignedTx,
    receipt: v1::Receipt,
}

/// Shared state of the load.
struct Load {
    /// Set just before the SIGKILL: errors after it are the expected end of a submitter.
    killed: AtomicBool,
    /// Hashes of every transaction submitted (committed, in flight or lost).
    sent: Mutex<HashSet<[u8; 32]>>,
    reported: Mutex<Vec<Reported>>,
    /// Submits that got an answer (a receipt or an error).
    answered: AtomicUsize,
    /// How many were reported committed.
    count: watch::Sender<usize>,
}

/// One submitter: takes the account's next nonce, submits and waits, records the receipt; again,
/// until the node dies.
async fn submitter(
    client: Client,
    build: Build,
    nonces: Arc<AtomicU64>,
    load: Arc<Load>,
) -> Result<()> {
    while !load.killed.load(SeqCst) {
        let tx = build(nonces.fetch_add(1, SeqCst))?;
        let hash = tx.hash().0;
        lock(&load.sent).insert(hash);
        let answer = client.submit_and_wait(&tx, WAIT).await;
        load.answered.fetch_add(1, SeqCst);
        match answer {
            // A receipt, even one that arrives as the node is being killed, means "committed".
            Ok(receipt) => {
                ensure!(
                    receipt.status == v1::TxStatus::Ok as i32,
                    "a load transaction failed: {}",
                    receipt.error
                );
                lock(&load.reported).push(Reported {
                    hash,
                    tx: tx.into_proto(),
                    receipt,
                });
                load.count.send_modify(|n| *n += 1);
            }
            Err(_) if load.killed.load(SeqCst) => break,
            Err(e) => return Err(e).context("submit before the kill"),
        }
    }
    Ok(())
}

/// The load's transactions: banks mint to the buyer, officials register distinct parcels.
fn builds(keys: &DevKeys) -> Result<Vec<(Signer, Build)>> {
    let sys = SystemContracts::of(&keys.authority().address);
    let buyer = keys.get("buyer").context("buyer")?.address;
    let seller = keys.get("seller").context("seller")?.address;
    let template = |n: u64| {
        TxBuilder::new(DEV_CHAIN_ID)
            .nonce(n)
            .expiry_height(EXPIRY_HEIGHT)
            .gas_limit(DEFAULT_GAS_LIMIT)
    };
    let mut out = Vec::new();
    for bank in ["bank-a", "bank-b"] {
        let signer = dev_signer(keys, bank)?;
        let s = signer.clone();
        let build: Build = Arc::new(move |n| {
            let msg = json!({"mint": {"to": buyer, "amount": (n + 1).to_string()}});
            Ok(template(n).execute(sys.krw, &msg)?.sign(&s)?)
        });
        out.push((signer, build));
    }
    for official in ["official-1", "official-2", "official-3"] {
        let signer = dev_signer(keys, official)?;
        let s = signer.clone();
        let build: Build = Arc::new(move |n| {
            let msg = json!({"register_parcel": {
                "parcel_id": format!("crash-{official}-{n}"),
                "lot_number": format!("대치동 {n}"),
                "address": format!("서울특별시 강남구 대치동 {n}"),
                "area_m2_hundredths": 8_497,
                "land_use": "residential",
                "owners": [{"owner": seller, "share_bps": 10_000}],
            }});
            Ok(template(n).execute(sys.registry, &msg)?.sign(&s)?)
        });
        out.push((signer, build));
    }
    Ok(out)
}

/// Both nodes are idle (nothing is submitted to them, and a node makes a block only for
/// transactions), so they must agree on the head and on every block.
async fn assert_same_chain(
    a: &mut LedgerClient<Channel>,
    b: &mut LedgerClient<Channel>,
) -> Result<u64> {
    let (sa, sb) = (status(a).await?, status(b).await?);
    ensure!(
        sa.height == sb.height,
        "heights differ: {} vs {}",
        sa.height,
        sb.height
    );
    ensure!(sa.state_root == sb.state_root, "state roots differ");
    ensure!(
        sa.latest_block_hash == sb.latest_block_hash,
        "head hashes differ"
    );
    for h in 0..=sa.height {
        let (ba, bb) = (block(a, h).await?, block(b, h).await?);
        ensure!(ba.hash == bb.hash, "block {h}: header hashes differ");
        ensure!(ba.block == bb.block, "block {h}: blocks differ");
    }
    Ok(sa.height)
}

/// Where in the node's work the SIGKILL of [`sigkill_under_load`] lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillDuring {
    /// Anywhere under load.
    Load,
    /// While committed blocks wait for the background state writer: every write to sled is
    /// held back (`HANOK_TEST_STATE_WRITE_STALL_MS`), so sled trails the log by the whole
    /// queue, which the restart must replay.
    StateWrites,
    /// While the tree's node file is being compacted: compaction runs every few blocks
    /// (`HANOK_TREE_COMPACT_MIN_BYTES`) and holds after writing its new file, before renaming
    /// it over the old one (`HANOK_TEST_COMPACTION_STALL_MS`); the kill lands there.
    Compaction,
}

/// The issue's scenario: load from several accounts, SIGKILL while submits are in flight,
/// restart on the same data dir. Every transaction reported committed is there, in the same
/// block, with the same receipt; nothing was committed that was not submitted; the restarted
/// node equals a clean replay of the (post-crash) log in a fresh directory, block by block and
/// in state root; and it keeps committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_keeps_every_reported_tx_and_matches_a_clean_replay() -> Result<()> {
    sigkill_under_load(KillDuring::Load).await
}

/// The same, killed while blocks wait for the background state writer: the restart replays
/// them from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_state_writes_trail_the_log_loses_nothing() -> Result<()> {
    sigkill_under_load(KillDuring::StateWrites).await
}

/// The same, killed in the middle of a node-file compaction: the old file stays in use, the
/// half-done new one is deleted, and nothing needs rebuilding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_node_file_compaction_loses_nothing() -> Result<()> {
    sigkill_under_load(KillDuring::Compaction).await
}

async fn sigkill_under_load(during: KillDuring) -> Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let keys = DevKeys::new();
    // Under load the node produces blocks back to back (a 1 ms interval instead of the default), so
    // the kill lands at any point of a block's commit rather than in the idle time after one.
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\nblock_interval_ms = 1\n",
            dir.path()
        ),
    )?;
    let mut command = Command::new(BIN);
    command.args(["node", "--dev", "--config"]).arg(&config);
    match during {
        KillDuring::Load => {}
        KillDuring::StateWrites => {
            command.env("HANOK_TEST_STATE_WRITE_STALL_MS", "40");
        }
        KillDuring::Compaction => {
            command
                .env("HANOK_TREE_COMPACT_MIN_BYTES", "65536")
                .env("HANOK_TEST_COMPACTION_STALL_MS", "3000");
        }
    }
    let mut node = NodeProcess::wait_listening(NodeProcess::spawn_command(command)?)?;
    let client = node.client().await?;
    let compacting = dir
        .path()
        .join("chain")
        .join("state")
        .join(hanok_storage::NODE_FILE_COMPACTING);

    let (count, mut counted) = watch::channel(0usize);
    let load = Arc::new(Load {
        killed: AtomicBool::new(false),
        sent: Mutex::new(HashSet::new()),
        reported: Mutex::new(Vec::new()),
        answered: AtomicUsize::new(0),
        count,
    });
    let mut submitters = tokio::task::JoinSet::new();
    for (signer, build) in builds(&keys)? {
        let nonces = Arc::new(AtomicU64::new(client.next_nonce(signer.address()).await?));
        for _ in 0..LANES_PER_ACCOUNT {
            submitters.spawn(submitter(
                client.clone(),
                build.clone(),
                nonces.clone(),
                load.clone(),
            ));
        }
    }
    // Until enough are reported committed (a submitter that stops early fails the test), and
    // for a compaction, until one is under way.
    let enough = tokio::time::timeout(LOAD_DEADLINE, async {
        tokio::select! {
            r = async {
                counted.wait_for(|&n| n >= KILL_AFTER).await.context("load counter")?;
                while during == KillDuring::Compaction && !compacting.exists() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Ok(())
            } => r,
            Some(done) = submitters.join_next() => {
                done??;
                bail!("a submitter stopped before the kill")
            }
        }
    })
    .await;
    load.killed.store(true, SeqCst);
    let in_flight = lock(&load.sent)
        .len()
        .saturating_sub(load.answered.load(SeqCst));
    node.kill9()?;
    enough.with_context(|| {
        format!("fewer than {KILL_AFTER} transactions committed within {LOAD_DEADLINE:?}")
    })??;
    while let Some(done) = tokio::time::timeout(WAIT, submitters.join_next())
        .await
        .context("a submitter hung after the kill")?
    {
        done??;
    }
    ensure!(in_flight > 0, "no submit was in flight at the kill");
    let reported = lock(&load.reported).clone();
    let sent = lock(&load.sent).clone();
    let last_reported = reported.iter().map(|r| r.receipt.height).max().unwrap_or(0);

    // The log exactly as the crash left it, for the clean replay below.
    let crashed_log = std::fs::read(log_path(dir.path()))?;

    let node = NodeProcess::start(dir.path())?;
    let cut = crashed_log.len() - file_len(&log_path(dir.path()))?;
    let mut ledger = node.ledger().await?;
    let head = status(&mut ledger).await?;
    ensure!(
        head.height >= last_reported,
        "restarted at height {} but block {last_reported} was reported committed",
        head.height
    );
    for r in &reported {
        let hex = hex(&r.hash);
        let found = get_tx(&mut ledger, &r.hash)
            .await
            .with_context(|| format!("reported tx {hex} lost"))?;
        ensure!(
            found.height == r.receipt.height && found.index == r.receipt.index,
            "tx {hex} moved from {}/{} to {}/{}",
            r.receipt.height,
            r.receipt.index,
            found.height,
            found.index
        );
        ensure!(found.tx.as_ref() == Some(&r.tx), "tx {hex} differs");
        ensure!(
            get_receipt(&mut ledger, &r.hash).await? == r.receipt,
            "receipt of {hex} differs"
        );
    }
    // Nothing committed that nobody submitted; count the ones that landed unreported.
    let mut committed = 0usize;
    for h in 2..=head.height {
        for tx in block(&mut ledger, h).await?.block.context("no block")?.txs {
            let hash = SignedTx::from_proto(tx).hash().0;
            ensure!(sent.contains(&hash), "block {h} holds a tx nobody sent");
            committed += 1;
        }
    }
    ensure!(committed >= reported.len());

    // Clean replay: only the log, in a fresh directory (no state, no module cache).
    let fresh = log_only_dir(&crashed_log)?;
    let replay = NodeProcess::start(fresh.path())?;
    let height = assert_same_chain(&mut ledger, &mut replay.ledger().await?).await?;
    drop(replay);

    // The restarted node keeps committing (nonces and state recovered).
    let client = node.client().await?;
    let sys = SystemContracts::of(&keys.authority().address);
    let buyer = keys.get("buyer").context("buyer")?.address;
    let r = client
        .krw(sys.krw)
        .mint(&dev_signer(&keys, "bank-a")?, buyer, 1)
        .await?;
    ensure!(
        r.height == height + 1,
        "new tx at {} after {height}",
        r.height
    );
    let log = node.interrupt_keep_stderr()?;
    let replayed = replayed_at_start(&log)?;
    match during {
        KillDuring::Load => {}
        // The whole queue of blocks waiting for sled (and whatever sled had not flushed).
        KillDuring::StateWrites => ensure!(
            replayed >= 4,
            "only {replayed} blocks replayed: sled did not trail the log at the kill"
        ),
        KillDuring::Compaction => {
            ensure!(
                !compacting.exists(),
                "the half-written compaction file is still there"
            );
            ensure!(
                !log.contains("repaired the state tree's node file"),
                "the old node file was not used as it was:\n{log}"
            );
        }
    }

    eprintln!(
        "sigkill ({during:?}): {} reported + {} unreported committed of {} sent, {in_flight} in \
         flight at the kill, last reported height {last_reported}, restarted at {height} after \
         replaying {replayed} blocks, {cut} log bytes cut, {:.1?}",
        reported.len(),
        committed - reported.len(),
        sent.len(),
        started.elapsed()
    );
    Ok(())
}

/// The `replayed` count of the node's "chain opened" line.
fn replayed_at_start(log: &str) -> Result<u64> {
    let line = log
        .lines()
        .find(|l| l.contains("chain opened"))
        .with_context(|| format!("no \"chain opened\" line in:\n{log}"))?;
    let plain: String = strip_ansi(line);
    let value = plain
        .split_whitespace()
        .find_map(|w| w.strip_prefix("replayed="))
        .with_context(|| format!("no replayed= in {plain:?}"))?;
    Ok(value.parse()?)
}

/// `s` without ANSI colour sequences (`ESC [ ... m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Submits `n` mints from bank-a one after another; each is acknowledged (`SubmitAndWait`
/// returned its receipt) before the next is sent.
async fn acknowledged(node: &NodeProcess, n: usize) -> Result<Vec<Reported>> {
    let keys = DevKeys::new();
    let (signer, build) = builds(&keys)?.into_iter().next().context("bank-a")?;
    let client = node.client().await?;
    let mut nonce = client.next_nonce(signer.address()).await?;
    let mut out = Vec::new();
    for _ in 0..n {
        let tx = build(nonce)?;
        nonce += 1;
        let hash = tx.hash().0;
        let receipt = client.submit_and_wait(&tx, WAIT).await?;
        ensure!(
            receipt.status == v1::TxStatus::Ok as i32,
            "{}",
            receipt.error
        );
        out.push(Reported {
            hash,
            tx: tx.into_proto(),
            receipt,
        });
    }
    Ok(out)
}

/// Every acknowledged transaction is where it was reported: same block, same position, same
/// bytes, same receipt.
async fn assert_present(node: &NodeProcess, reported: &[Reported]) -> Result<()> {
    let mut ledger = node.ledger().await?;
    for r in reported {
        let hex = hex(&r.hash);
        let found = get_tx(&mut ledger, &r.hash)
            .await
            .with_context(|| format!("acknowledged tx {hex} lost"))?;
        ensure!(
            (found.height, found.index) == (r.receipt.height, r.receipt.index),
            "tx {hex} moved"
        );
        ensure!(found.tx.as_ref() == Some(&r.tx), "tx {hex} differs");
        ensure!(
            get_receipt(&mut ledger, &r.hash).await? == r.receipt,
            "receipt of {hex} differs"
        );
    }
    Ok(())
}

/// One more transaction commits right after `height`: the chain goes on where it was.
async fn commits_next(node: &NodeProcess, height: u64) -> Result<()> {
    let keys = DevKeys::new();
    let sys = SystemContracts::of(&keys.authority().address);
    let buyer = keys.get("buyer").context("buyer")?.address;
    let r = node
        .client()
        .await?
        .krw(sys.krw)
        .mint(&dev_signer(&keys, "bank-a")?, buyer, 1)
        .await?;
    ensure!(
        r.height == height + 1,
        "new tx at {} after {height}",
        r.height
    );
    Ok(())
}

/// How a node is stopped before its log is damaged.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// SIGKILL right after the last acknowledgement: the state store may lag the log.
    Kill,
    /// SIGINT: a clean shutdown, the state store flushed at the last block.
    Clean,
}

/// Item (a)/(b) of the storage guarantees: acknowledged blocks, the node stopped, one byte
/// flipped inside the last (complete) record. The node refuses to start, says which record,
/// height and byte range and how to restore it, and leaves the file byte-identical; once the
/// record's bytes are copied back from an intact copy (as docs/operations.md tells an operator
/// to do), it starts with every acknowledged transaction where it was.
async fn flipped_last_record(stop: Stop) -> Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let log = log_path(dir.path());
    let mut node = NodeProcess::start(dir.path())?;
    let reported = acknowledged(&node, 3).await?;
    let acked = reported.iter().map(|r| r.receipt.height).max().unwrap_or(0);
    match stop {
        Stop::Kill => node.kill9()?,
        Stop::Clean => node.interrupt()?,
    }
    let intact = std::fs::read(&log)?;
    let recs = records(&intact)?;
    let &(h, start, end) = recs.last().context("empty log")?;
    // The node was idle after the last acknowledgement, so its block is the last record.
    ensure!(
        h == acked,
        "last record {h}, last acknowledged block {acked}"
    );

    let mut damaged = intact.clone();
    damaged[(start + end) / 2] ^= 0x01;
    std::fs::write(&log, &damaged)?;
    let stderr = expect_refusal(dir.path())?;
    for part in [
        format!("record #{h} (block height {h}) at byte {start}, bytes {start}..{end}"),
        "its body fails its checksum".into(),
        "changed nothing on disk".into(),
        "from a backup".into(),
        "docs/operations.md".into(),
    ] {
        ensure!(
            stderr.contains(&part),
            "{stop:?}: no {part:?} in:\n{stderr}"
        );
    }
    ensure!(!stderr.contains("panicked"), "{stderr}");
    ensure!(std::fs::read(&log)? == damaged, "the log was modified");

    // A flipped byte in an earlier record (block 1, valid records after it) is refused too.
    if let Stop::Clean = stop {
        let &(one, s1, e1) = recs.get(1).context("no block 1")?;
        let mut mid = intact.clone();
        mid[(s1 + e1) / 2] ^= 0x80;
        std::fs::write(&log, &mid)?;
        let stderr = expect_refusal(dir.path())?;
        ensure!(
            stderr.contains(&format!("record #{one} (block height {one}) at byte {s1}")),
            "{stderr}"
        );
        ensure!(std::fs::read(&log)? == mid, "the log was modified");
        std::fs::write(&log, &damaged)?;
    }

    // Restore the record: copy its byte range from the intact copy, in place.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&log)?;
        f.write_all_at(&intact[start..end], u64::try_from(start)?)?;
        f.sync_all()?;
    }
    ensure!(std::fs::read(&log)? == intact);
    let node = NodeProcess::start(dir.path())?;
    let head = status(&mut node.ledger().await?).await?;
    ensure!(
        head.height == h,
        "restarted at {} instead of {h}",
        head.height
    );
    assert_present(&node, &reported).await?;
    commits_next(&node, h).await?;
    node.interrupt()?;
    eprintln!("flipped last record ({stop:?}): {:.1?}", started.elapsed());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_the_last_record_after_sigkill_is_refused_and_restorable() -> Result<()> {
    flipped_last_record(Stop::Kill).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_the_last_record_after_a_clean_stop_is_refused_and_restorable(
) -> Result<()> {
    flipped_last_record(Stop::Clean).await
}

/// Copies a stopped node's data directory (files and subdirectories).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Item (c): a crash in the middle of appending block h + 1 leaves the file ending inside its
/// record. That record was never complete, so its fsync never returned and nobody heard of it:
/// it is cut, the node starts at h with every acknowledged transaction, and the chain goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_record_is_cut_and_nothing_acknowledged_is_missing() -> Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let log = log_path(dir.path());
    let node = NodeProcess::start(dir.path())?;
    let reported = acknowledged(&node, 2).await?;
    let h = status(&mut node.ledger().await?).await?.height;
    node.interrupt()?;
    let clean = std::fs::read(&log)?;

    // The record block h + 1 would have had: produced on a copy of the directory.
    let other = tempfile::tempdir()?;
    copy_dir(dir.path(), other.path())?;
    let twin = NodeProcess::start(other.path())?;
    let unacked = acknowledged(&twin, 1).await?;
    twin.interrupt()?;
    let twin_log = std::fs::read(log_path(other.path()))?;
    let &(next, start, end) = records(&twin_log)?.last().context("empty log")?;
    ensure!(next == h + 1 && start == clean.len());

    // The crash: the file ends in the middle of that record.
    let mut torn = clean.clone();
    torn.extend_from_slice(&twin_log[start..(start + end) / 2]);
    std::fs::write(&log, &torn)?;
    let node = NodeProcess::start(dir.path())?;
    let mut ledger = node.ledger().await?;
    ensure!(status(&mut ledger).await?.height == h);
    ensure!(
        std::fs::read(&log)? == clean,
        "the torn record was not cut exactly"
    );
    assert_present(&node, &reported).await?;
    match get_tx(&mut ledger, &unacked[0].hash).await {
        Err(s) if s.code() == Code::NotFound => {}
        other => bail!("the torn block's tx is visible: {other:?}"),
    }
    commits_next(&node, h).await?;
    let stderr = node.interrupt_keep_stderr()?;
    ensure!(
        stderr.contains("cut an incomplete last record from the block log"),
        "no warning about the cut:\n{stderr}"
    );
    eprintln!("torn last record: {:.1?}", started.elapsed());
    Ok(())
}

/// Item (d): the state store applied blocks the log no longer holds (the log cut by hand by
/// whole records, or its last record cut short after it was acknowledged). Refused, nothing
/// changed; the original log put back, the node starts as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_ahead_of_the_log_is_refused() -> Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let log = log_path(dir.path());
    let node = NodeProcess::start(dir.path())?;
    let reported = acknowledged(&node, 3).await?;
    let before = status(&mut node.ledger().await?).await?;
    let h = before.height;
    node.interrupt()?;
    let intact = std::fs::read(&log)?;
    let recs = records(&intact)?;

    // Two whole records removed: blocks h - 1 and h are gone from the log.
    let &(_, cut_at, _) = recs.get(recs.len() - 2).context("short log")?;
    let shortened = &intact[..cut_at];
    std::fs::write(&log, shortened)?;
    let stderr = expect_refusal(dir.path())?;
    for part in [
        format!("has applied blocks up to height {h}"),
        format!("ends at height {}", h - 2),
        format!("has lost blocks {}..={h}", h - 1),
        "nothing was changed on disk".into(),
        "Do not delete the state directory".into(),
    ] {
        ensure!(stderr.contains(&part), "no {part:?} in:\n{stderr}");
    }
    ensure!(std::fs::read(&log)? == shortened, "the log was modified");

    // The last record cut short: it looks torn, but the state applied it, so it was complete.
    let &(_, last, end) = recs.last().context("empty log")?;
    let cut_short = &intact[..(last + end) / 2];
    std::fs::write(&log, cut_short)?;
    let stderr = expect_refusal(dir.path())?;
    ensure!(
        stderr.contains(&format!("has lost block {h},"))
            && stderr.contains(&format!("incomplete record at byte {last}")),
        "{stderr}"
    );
    ensure!(std::fs::read(&log)? == cut_short, "the log was modified");

    std::fs::write(&log, &intact)?;
    let node = NodeProcess::start(dir.path())?;
    let after = status(&mut node.ledger().await?).await?;
    ensure!((after.height, &after.state_root) == (h, &before.state_root));
    assert_present(&node, &reported).await?;
    node.interrupt()?;
    eprintln!("state ahead of the log: {:.1?}", started.elapsed());
    Ok(())
}

/// Item 3: a stopped node's state directory damaged, twice. sled refuses a garbled config file
/// ("a sled version earlier than 0.29"), and "recovers" a garbled data file as an empty database
/// (or panics on it: the store's unit tests pin that case). Each time the node moves the
/// directory aside with one line saying so, rebuilds it from the log, and comes up at the same
/// height and state root with every acknowledged transaction; no panic is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_state_directory_is_moved_aside_and_rebuilt() -> Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir()?;
    let node = NodeProcess::start(dir.path())?;
    let reported = acknowledged(&node, 2).await?;
    let before = status(&mut node.ledger().await?).await?;
    node.interrupt()?;
    let state = dir.path().join("chain").join("state");
    let aside = || -> Result<usize> {
        Ok(std::fs::read_dir(dir.path().join("chain"))?
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.damaged-")
            })
            .count())
    };

    let mut before = before;
    for (round, garble) in [(1usize, "conf"), (2, "db")] {
        let path = state.join(garble);
        let len = usize::try_from(std::fs::metadata(&path)?.len())?;
        // Not UTF-8, so sled cannot read it as its config either.
        std::fs::write(&path, vec![0xabu8; len.max(16)])?;
        let node = NodeProcess::start(dir.path())?;
        let mut ledger = node.ledger().await?;
        let after = status(&mut ledger).await?;
        ensure!(
            (after.height, &after.state_root, &after.latest_block_hash)
                == (before.height, &before.state_root, &before.latest_block_hash),
            "round {round}: height {} after {}, or another state root or head",
            after.height,
            before.height
        );
        assert_present(&node, &reported).await?;
        commits_next(&node, after.height).await?;
        before = status(&mut ledger).await?;
        let stderr = node.interrupt_keep_stderr()?;
        ensure!(
            !stderr.contains("panicked"),
            "round {round}: a panic was printed:\n{stderr}"
        );
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("moved it aside and rebuilt it from the block log"))
            .collect();
        ensure!(
            lines.len() == 1,
            "round {round}: expected one line about the rebuild:\n{stderr}"
        );
        ensure!(lines[0].contains("state.damaged-"), "{}", lines[0]);
        ensure!(
            aside()? == round,
            "the damaged directory was not kept aside"
        );
    }
    eprintln!("damaged state directory: {:.1?}", started.elapsed());
    Ok(())
}

/// Health of the whole server ("") as the gRPC health service reports it.
async fn serving(node: &NodeProcess) -> Result<bool> {
    use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};
    let channel = Channel::from_shared(node.url.clone())?.connect().await?;
    let mut health = HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await?
        .into_inner()
        .status;
    Ok(status == ServingStatus::Serving as i32)
}

/// Polls `check` until it holds, failing after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await? {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes zeros to `path` until the file system is full; returns how much went in.
fn fill(path: &Path) -> Result<u64> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 1] {
        let buf = vec![0u8; chunk];
        while f.write_all(&buf).is_ok() {
            written += chunk as u64;
        }
    }
    let _ = f.sync_all();
    Ok(written)
}

/// Item 4: the disk fills up under a running node. Production pauses (health NOT_SERVING, no
/// acknowledged transaction lost, no damage written to the log), and once space returns it
/// resumes without a restart: the transactions that were waiting commit, new ones too, and the
/// log replays in a fresh directory to the same chain.
///
/// The node runs on a small tmpfs of its own, mounted in a private mount namespace (`unshare
/// -rm`: no root needed where unprivileged user namespaces are allowed); the test reaches that
/// file system through `/proc/<pid>/root`. Where namespaces are not available it says so and
/// passes without running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_pauses_production_until_space_returns() -> Result<()> {
    let started = Instant::now();
    let usable = Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        eprintln!("SKIPPED: a full disk needs `unshare -rm` (user and mount namespaces) here");
        return Ok(());
    }
    let mount = tempfile::tempdir()?;
    let mut command = Command::new("unshare");
    command
        .args([
            "-rm",
            "sh",
            "-c",
            r#"mount -t tmpfs -o size=64m tmpfs "$1" && exec "$2" node --dev --listen 127.0.0.1:0 --data-dir "$1/data""#,
            "sh",
        ])
        .arg(mount.path())
        .arg(BIN);
    let node = NodeProcess::wait_listening(NodeProcess::spawn_command(command)?)?;
    // The node's view of its tmpfs, from outside its mount namespace.
    let tmpfs = PathBuf::from(format!("/proc/{}/root", node.child.id()))
        .join(mount.path().strip_prefix("/")?);
    ensure!(
        tmpfs.join("data/chain/blocks.log").exists(),
        "no log at {}",
        tmpfs.display()
    );
    let mut reported = acknowledged(&node, 2).await?;

    let filler = tmpfs.join("filler");
    let filled = fill(&filler)?;
    // Each transaction now carries a 64 KiB memo, so its block needs pages the log does not
    // have yet: the first write to fail is the log's (nothing of the block is written, the
    // chain stays as it was); the state store's background flush may fail too, and then the
    // first write after space returns fails there (the block is in the log: the chain is
    // reopened and replays it). Every transaction acknowledged meanwhile must survive.
    let keys = DevKeys::new();
    let sys = SystemContracts::of(&keys.authority().address);
    let buyer = keys.get("buyer").context("buyer")?.address;
    let signer = dev_signer(&keys, "bank-a")?;
    let build = |n: u64| -> Result<SignedTx> {
        let msg = json!({"mint": {"to": buyer, "amount": "1"}});
        Ok(TxBuilder::new(DEV_CHAIN_ID)
            .nonce(n)
            .expiry_height(EXPIRY_HEIGHT)
            .gas_limit(DEFAULT_GAS_LIMIT)
            .memo("m".repeat(64 << 10))
            .execute(sys.krw, &msg)?
            .sign(&signer)?)
    };
    let client = node.client().await?;
    let mut nonce = client.next_nonce(signer.address()).await?;
    let mut stuck = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stuck.is_none() {
        ensure!(
            Instant::now() < deadline,
            "production never paused on a full disk"
        );
        let tx = build(nonce)?;
        nonce += 1;
        let hash = tx.hash().0;
        match client.submit_and_wait(&tx, Duration::from_secs(2)).await {
            Ok(receipt) => reported.push(Reported {
                hash,
                tx: tx.into_proto(),
                receipt,
            }),
            // Admitted and waiting (DEADLINE_EXCEEDED), or refused while paused (UNAVAILABLE).
            Err(_) => stuck = Some((hash, tx)),
        }
    }
    let n = &node;
    eventually(
        Duration::from_secs(10),
        "health NOT_SERVING while the disk is full",
        || async move { Ok(!serving(n).await?) },
    )
    .await?;
    let (stuck_hash, stuck_tx) = stuck.context("no stuck tx")?;

    std::fs::remove_file(&filler)?;
    let (c, t) = (&client, &stuck_tx);
    eventually(
        Duration::from_secs(30),
        "health SERVING once space returned",
        || async move {
            // A transaction refused while paused must be sent again; one admitted commits alone.
            let _ = c.submit(t).await;
            serving(n).await
        },
    )
    .await?;
    let mut ledger = node.ledger().await?;
    eventually(
        Duration::from_secs(10),
        "the stuck transaction committed",
        || {
            let mut ledger = ledger.clone();
            async move { Ok(get_tx(&mut ledger, &stuck_hash).await.is_ok()) }
        },
    )
    .await?;
    assert_present(&node, &reported).await?;
    let head = status(&mut ledger).await?.height;
    commits_next(&node, head).await?;

    // The log as the node wrote it through all this replays cleanly to the same chain.
    let log = std::fs::read(tmpfs.join("data/chain/blocks.log"))?;
    let fresh = log_only_dir(&log)?;
    let replay = NodeProcess::start(fresh.path())?;
    let height = assert_same_chain(&mut ledger, &mut replay.ledger().await?).await?;
    drop(replay);
    let stderr = node.interrupt_keep_stderr()?;
    ensure!(!stderr.contains("panicked"), "{stderr}");
    // What the pause looked like (which write failed first varies: the log or the state store).
    for line in stderr
        .lines()
        .filter(|l| l.contains("paused") || l.contains("reopened") || l.contains("resumed"))
    {
        eprintln!("  {line}");
    }
    eprintln!(
        "full disk: {filled} filler bytes, {} acknowledged, resumed to height {height}, {:.1?}",
        reported.len(),
        started.elapsed()
    );
    Ok(())
}
