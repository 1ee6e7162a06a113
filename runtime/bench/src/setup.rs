//! The connection pool and the setup helpers every workload uses: fresh accounts, batched setup
//! transactions (several calls per transaction, several transactions in flight per sender),
//! gas measurement by dry run, contract addresses and code hashes, parallel pre-signing.

use crate::error::BenchError;
use hanok_client::messages::identity;
use hanok_client::{Client, Role, SignedTx, Signer, TxBuilder};
use hanok_node::dev::{DevKeys, SystemContracts};
use hanok_proto::v1;
use hanok_types::{Address, Hash, SecretKey};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// How long one submit waits for its receipt (the node caps it at its request timeout).
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Gas limit of a setup transaction: the per-transaction maximum of `TxLimits::default()`, so a
/// batch of calls never runs out; ten of them fit the default block gas.
pub(crate) const SETUP_GAS: u64 = 1_000_000_000;

/// Most setup transactions one sender has in flight: below the mempool's per-account window.
const SETUP_IN_FLIGHT: usize = 32;

/// Most calls of setup transactions in flight, all senders together: a couple of blocks' worth,
/// so that the last one's receipt comes well within [`WAIT`] even on a busy machine.
const SETUP_CALLS_IN_FLIGHT: usize = 4096;

/// A sent setup transaction: sender index, index among the sender's, the answer.
type Sent = (usize, usize, Result<v1::Receipt, hanok_client::ClientError>);

/// Gas limit used to measure a transaction's gas by dry run or warm-up.
pub(crate) const PROBE_GAS: u64 = hanok_client::DEFAULT_GAS_LIMIT;

/// A contract message as JSON. The system contracts' messages are plain data (strings,
/// numbers, addresses, no maps), which always serialise.
pub(crate) fn json(msg: &impl Serialize) -> Value {
    serde_json::to_value(msg).expect("a system contract message serialises")
}

/// One call of a setup transaction.
#[derive(Debug, Clone)]
pub(crate) enum SetupCall {
    /// `execute` with a JSON message.
    Execute(Address, Value),
    /// `instantiate` of uploaded code with a label and a JSON message.
    Instantiate(Hash, String, Value),
}

/// What every workload's setup and driver share.
pub(crate) struct Ctx {
    /// One client per HTTP/2 connection (the node limits concurrent streams per connection).
    pub clients: Vec<Client>,
    pub chain_id: String,
    /// Expiry height of every transaction this run signs.
    pub expiry: u64,
    /// Latest block time seen at start (Unix seconds).
    pub block_time: u64,
    pub keys: DevKeys,
    pub sys: SystemContracts,
    /// A tag unique to this run, in seeds, labels and parcel ids, so runs against the same
    /// endpoint never collide.
    pub run: String,
    pub progress: bool,
}

impl Ctx {
    /// Opens `connections` HTTP/2 connections to `url`.
    pub async fn connect(
        url: &str,
        tls: Option<&hanok_client::Tls>,
        connections: usize,
        progress: bool,
    ) -> Result<Ctx, BenchError> {
        let endpoint = hanok_client::endpoint(url, tls)
            .map_err(|e| BenchError::Options(e.to_string()))?
            .tcp_nodelay(true);
        let mut clients = Vec::with_capacity(connections.max(1));
        let mut first = None;
        for _ in 0..connections.max(1) {
            let channel = endpoint
                .connect()
                .await
                .map_err(hanok_client::ClientError::from)?;
            if first.is_none() {
                first = Some(channel.clone());
            }
            clients.push(Client::from_channel(channel));
        }
        let status = clients[0].status().await?;
        let keys = DevKeys::new();
        let sys = SystemContracts::of(&keys.authority().address);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let tag = Hash::sha256(format!("{nanos}/{}", std::process::id()).as_bytes());
        Ok(Ctx {
            clients,
            chain_id: status.chain_id,
            expiry: status.height.saturating_add(10_000_000),
            block_time: status.latest_block_time,
            keys,
            sys,
            run: tag.to_hex()[..8].to_string(),
            progress,
        })
    }

    /// Prints a setup step on stderr unless quiet.
    pub fn say(&self, msg: &str) {
        if self.progress {
            eprintln!("setup: {msg}");
        }
    }

    /// The first client.
    pub fn client(&self) -> &Client {
        &self.clients[0]
    }

    /// A dev account's signer (`authority`, `official-1`, `bank-b`, ...).
    pub fn dev(&self, name: &str) -> Result<Signer, BenchError> {
        self.keys
            .get(name)
            .map(|a| Signer::new(a.key.clone()))
            .ok_or_else(|| BenchError::Setup(format!("no dev account `{name}`")))
    }

    /// A fresh account for this run.
    pub fn account(&self, role: &str, i: usize) -> Signer {
        Signer::new(SecretKey::from_seed(
            format!("hanok-bench/{}/{role}/{i}", self.run).as_bytes(),
        ))
    }

    /// A transaction template with this run's chain id and expiry.
    pub fn builder(&self, nonce: u64, gas: u64) -> TxBuilder {
        TxBuilder::new(self.chain_id.clone())
            .nonce(nonce)
            .expiry_height(self.expiry)
            .gas_limit(gas)
    }

    /// Sends `calls` as `signer`, `per_tx` calls per transaction of gas limit [`SETUP_GAS`], as
    /// [`Ctx::batches`] does; returns every receipt in order.
    ///
    /// # Errors
    /// [`BenchError::Setup`] naming the first transaction that failed.
    pub async fn batch(
        &self,
        signer: &Signer,
        calls: Vec<SetupCall>,
        per_tx: usize,
    ) -> Result<Vec<v1::Receipt>, BenchError> {
        let mut all = self
            .batches(vec![(signer.clone(), calls)], per_tx, SETUP_GAS)
            .await?;
        Ok(all.pop().unwrap_or_default())
    }

    /// [`Ctx::batch`] for several senders at once: each sender's calls go out in transactions
    /// of `per_tx` calls with gas limit `gas` and consecutive nonces, every sender with up to
    /// [`SETUP_IN_FLIGHT`] transactions in flight and all senders together with up to
    /// [`SETUP_CALLS_IN_FLIGHT`] calls. Returns each sender's receipts in order, senders in the
    /// order given. A block holds transactions whose gas limits add up to at most the block's
    /// (10 × [`SETUP_GAS`] by default), so a `gas` nearer the calls' need lets more of them
    /// into each block.
    ///
    /// # Errors
    /// [`BenchError::Setup`] naming a transaction that failed.
    pub async fn batches(
        &self,
        jobs: Vec<(Signer, Vec<SetupCall>)>,
        per_tx: usize,
        gas: u64,
    ) -> Result<Vec<Vec<v1::Receipt>>, BenchError> {
        // Sign every sender's transactions first.
        let mut per_sender: Vec<Vec<SignedTx>> = Vec::with_capacity(jobs.len());
        for (signer, calls) in &jobs {
            let mut nonce = self.client().next_nonce(signer.address()).await?;
            let mut txs = Vec::new();
            for chunk in calls.chunks(per_tx.max(1)) {
                let mut b = self.builder(nonce, gas);
                for c in chunk {
                    b = match c {
                        SetupCall::Execute(contract, msg) => b.execute(*contract, msg)?,
                        SetupCall::Instantiate(code, label, msg) => {
                            b.instantiate(*code, label.clone(), None, msg)?
                        }
                    };
                }
                txs.push(b.sign(signer)?);
                nonce += 1;
            }
            per_sender.push(txs);
        }
        // Then send them, senders interleaved. Each sender has at most SETUP_IN_FLIGHT
        // transactions in flight (below the mempool's per-account window), and all together at
        // most SETUP_CALLS_IN_FLIGHT calls: a transaction waits at most WAIT for its receipt, so
        // the work queued ahead of it must fit in that time. The permits are taken here, in
        // nonce order, so no transaction holds one while its predecessor waits for one.
        let closed = |_| BenchError::Task("a setup semaphore closed".into());
        let all = Arc::new(Semaphore::new(
            (SETUP_CALLS_IN_FLIGHT / per_tx.max(1)).max(1),
        ));
        let mine: Vec<Arc<Semaphore>> = per_sender
            .iter()
            .map(|_| Arc::new(Semaphore::new(SETUP_IN_FLIGHT)))
            .collect();
        let mut receipts: Vec<Vec<Option<v1::Receipt>>> =
            per_sender.iter().map(|txs| vec![None; txs.len()]).collect();
        let mut take = |joined: Result<Sent, tokio::task::JoinError>| -> Result<(), BenchError> {
            let (s, i, r) = joined?;
            let receipt = hanok_client::check_receipt(r?).map_err(|e| {
                BenchError::Setup(format!(
                    "a setup transaction of {}: {e}",
                    jobs[s].0.address()
                ))
            })?;
            receipts[s][i] = Some(receipt);
            Ok(())
        };
        let longest = per_sender.iter().map(Vec::len).max().unwrap_or(0);
        let mut set = tokio::task::JoinSet::new();
        let mut k = 0usize;
        for i in 0..longest {
            for (s, txs) in per_sender.iter().enumerate() {
                let Some(tx) = txs.get(i) else { continue };
                let permits = (
                    mine[s].clone().acquire_owned().await.map_err(closed)?,
                    all.clone().acquire_owned().await.map_err(closed)?,
                );
                let client = self.clients[k % self.clients.len()].clone();
                k += 1;
                let tx = tx.clone();
                set.spawn(async move {
                    let r = client.submit_and_wait(&tx, WAIT).await;
                    drop(permits);
                    (s, i, r)
                });
                while let Some(joined) = set.try_join_next() {
                    take(joined)?;
                }
            }
        }
        while let Some(joined) = set.join_next().await {
            take(joined)?;
        }
        Ok(receipts
            .into_iter()
            .map(|r| r.into_iter().flatten().collect())
            .collect())
    }

    /// Enrols `accounts` (address, roles) as the dev authority, 64 per transaction.
    pub async fn enrol(&self, accounts: &[(Address, Role)]) -> Result<(), BenchError> {
        let calls = accounts
            .iter()
            .map(|&(address, role)| {
                SetupCall::Execute(
                    self.sys.identity,
                    json(&identity::ExecuteMsg::Enrol {
                        address,
                        roles: vec![role],
                        person_hash: None,
                    }),
                )
            })
            .collect();
        self.batch(&self.dev("authority")?, calls, 64).await?;
        Ok(())
    }

    /// Gas a signed transaction uses, by dry run against committed state.
    ///
    /// # Errors
    /// [`BenchError::Setup`] if the dry run fails (the workload's setup is then wrong).
    pub async fn simulate_gas(&self, tx: &SignedTx) -> Result<u64, BenchError> {
        let receipt = self.clients[0].simulate(tx).await?.receipt;
        let receipt = hanok_client::check_receipt(receipt).map_err(|e| {
            BenchError::Setup(format!("dry run of the workload's transaction: {e}"))
        })?;
        Ok(receipt.gas_used)
    }

    /// The code hash of the contract at `address` (one `ListContracts` page starting just
    /// before it).
    pub async fn code_hash(&self, address: Address) -> Result<Hash, BenchError> {
        let page = self.clients[0]
            .list_contracts(Some(predecessor(&address)), 1)
            .await?;
        page.first()
            .filter(|c| c.address == address.0)
            .and_then(|c| Hash::from_slice(&c.code_hash))
            .ok_or_else(|| BenchError::Setup(format!("no contract at {address}")))
    }
}

/// The address just before `a` in byte order (for a `start_after` that includes `a`).
fn predecessor(a: &Address) -> Address {
    let mut b = a.0;
    for byte in b.iter_mut().rev() {
        if *byte == 0 {
            *byte = 0xff;
        } else {
            *byte -= 1;
            break;
        }
    }
    Address(b)
}

/// The address of a contract created by `creator` with `label` (the one definition, in
/// `hanok_abi::layout`), so the closing workload can wire contracts that name each other before
/// they exist; every prediction is checked against the instantiate receipt.
pub(crate) use hanok_types::layout::contract_address;

/// Gas limit for a transaction that used `used` in a dry run: twice that, rounded up to 10k.
pub(crate) fn gas_limit_for(used: u64) -> u64 {
    used.saturating_mul(2).max(100_000).div_ceil(10_000) * 10_000
}

/// One transaction to sign: signer index, template, and calls.
pub(crate) struct ToSign {
    pub signer: usize,
    pub builder: TxBuilder,
}

/// Signs every transaction on all cores, in order.
///
/// # Errors
/// [`BenchError::Setup`] if a builder is invalid (no calls).
pub(crate) async fn sign_all(
    signers: Arc<Vec<Signer>>,
    items: Vec<ToSign>,
) -> Result<Vec<SignedTx>, BenchError> {
    tokio::task::spawn_blocking(move || {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = items.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = items
                .chunks(per)
                .map(|chunk| {
                    let signers = &signers;
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|t| t.builder.sign(&signers[t.signer]))
                            .collect::<Result<Vec<_>, _>>()
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(items.len());
            for h in handles {
                let part = h
                    .join()
                    .map_err(|_| BenchError::Task("a signing thread panicked".into()))?
                    .map_err(|e| BenchError::Setup(format!("signing: {e}")))?;
                out.extend(part);
            }
            Ok(out)
        })
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predecessor_borrows() {
        let mut a = [0u8; 20];
        a[19] = 1;
        assert_eq!(predecessor(&Address(a)).0[19], 0);
        let mut b = [0u8; 20];
        b[18] = 1;
        let p = predecessor(&Address(b));
        assert_eq!((p.0[18], p.0[19]), (0, 0xff));
    }

    #[test]
    fn gas_limit_doubles_and_rounds() {
        assert_eq!(gas_limit_for(1_234_567), 2_470_000);
        assert_eq!(gas_limit_for(1), 100_000);
    }
}
