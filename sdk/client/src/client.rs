//! [`Client`]: an async gRPC connection to a node (Ledger, Contracts and Proofs services).

use crate::error::{ClientError, Result};
use crate::proof::{StateProof, TitleProof};
use crate::signer::Signer;
use crate::stream::{SubmitReceiver, SubmitSender};
use crate::tls::Tls;
use crate::tx::{SignedTx, TxBuilder, DEFAULT_GAS_LIMIT};
use hanok_proto::v1;
use hanok_proto::v1::contracts_client::ContractsClient;
use hanok_proto::v1::ledger_client::LedgerClient;
use hanok_proto::v1::proofs_client::ProofsClient;
use hanok_types::{Address, Hash};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use tonic::transport::Channel;

/// How long [`Client::execute`] waits for a receipt by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// Pause before submitting again after `UNAVAILABLE` (see [`Client::submit_and_wait`]).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// How many blocks after the current height a transaction built by [`Client::execute`] stays
/// valid.
pub const DEFAULT_EXPIRY_BLOCKS: u64 = 100;

/// The node's view of the chain head.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStatus {
    /// The chain id transactions must carry.
    pub chain_id: String,
    /// Height of the latest committed block.
    pub height: u64,
    /// Hash of its header.
    pub latest_block_hash: Vec<u8>,
    /// Its state root.
    pub state_root: Vec<u8>,
    /// Its time (Unix seconds).
    pub latest_block_time: u64,
    /// The node's software version.
    pub node_version: String,
    /// In a consortium: the node's role in ordering blocks, the leader, and each member's
    /// progress (the protobuf message as served). `None` on a single node.
    pub consensus: Option<v1::ConsensusStatus>,
    /// The chain's identity ([`hanok_types::chain_genesis_hash`]): what a title certificate is
    /// checked against. Empty from a node older than this field.
    pub genesis_hash: Vec<u8>,
    /// The genesis proposers (33-byte keys): whose header signatures a verifier trusts.
    pub proposers: Vec<Vec<u8>>,
}

// The protobuf messages have no float fields, so their `PartialEq` is an equivalence.
impl Eq for NodeStatus {}

/// An account as the node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The address.
    pub address: Address,
    /// The nonce its next transaction must carry.
    pub next_nonce: u64,
    /// Its `did:key`, when the node knows the key.
    pub did: Option<String>,
    /// Its roles in the identity contract (e.g. `official`, `bank`).
    pub roles: Vec<String>,
    /// Whether the identity contract lists it as enrolled (only enrolled accounts may send).
    pub enrolled: bool,
}

/// What a transaction would do, from [`Client::simulate`]; nothing was committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The receipt it would get in the next block.
    pub receipt: v1::Receipt,
    /// Every state key it would write, in key order (`value: None` = delete).
    pub diff: Vec<v1::StateWrite>,
}

/// What several transactions would do one after the other, from
/// [`Client::simulate_sequence`]; nothing was committed.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceSimulation {
    /// One receipt per transaction, in order.
    pub receipts: Vec<v1::Receipt>,
    /// Every state key they would write together, in key order (`value: None` = delete).
    pub diff: Vec<v1::StateWrite>,
}

/// A connection to one node. Cheap to clone; clones share the HTTP/2 connection.
///
/// ```no_run
/// # async fn demo() -> hanok_client::Result<()> {
/// use hanok_client::{Client, Signer};
/// let client = Client::connect("http://127.0.0.1:7070").await?;
/// let status = client.status().await?;
/// println!("{} at height {}", status.chain_id, status.height);
/// let me = Signer::dev("bank-b");
/// println!("next nonce {}", client.next_nonce(me.address()).await?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    ledger: LedgerClient<Channel>,
    contracts: ContractsClient<Channel>,
    proofs: ProofsClient<Channel>,
    gas_limit: u64,
    expiry_blocks: u64,
    wait: Duration,
}

fn bytes_to_address(bytes: &[u8], what: &str) -> Result<Address> {
    Address::from_slice(bytes)
        .ok_or_else(|| ClientError::Decode(format!("{what} is {} bytes, not 20", bytes.len())))
}

impl Client {
    /// Connects to a node's gRPC endpoint, e.g. `http://127.0.0.1:7070`.
    ///
    /// # Errors
    /// [`ClientError::Transport`] if the URL is invalid or the node cannot be reached.
    pub async fn connect(url: impl Into<String>) -> Result<Client> {
        Client::connect_with(&url.into(), None).await
    }

    /// Connects to a node's gRPC endpoint, over TLS for `https://` URLs (see [`Tls`]).
    ///
    /// # Errors
    /// [`ClientError::Transport`] if the URL is invalid, TLS material is missing or refused, or
    /// the node cannot be reached.
    pub async fn connect_with(url: &str, tls: Option<&Tls>) -> Result<Client> {
        Ok(Client::from_channel(crate::tls::channel(url, tls).await?))
    }

    /// A client over an existing channel (e.g. one with TLS or timeouts configured).
    pub fn from_channel(channel: Channel) -> Client {
        Client {
            ledger: LedgerClient::new(channel.clone()),
            contracts: ContractsClient::new(channel.clone()),
            proofs: ProofsClient::new(channel),
            gas_limit: DEFAULT_GAS_LIMIT,
            expiry_blocks: DEFAULT_EXPIRY_BLOCKS,
            wait: DEFAULT_WAIT,
        }
    }

    /// Sets the gas limit of transactions built by [`Client::execute`].
    #[must_use]
    pub fn with_gas_limit(mut self, gas: u64) -> Self {
        self.gas_limit = gas;
        self
    }

    /// Sets how many blocks transactions built by [`Client::execute`] stay valid.
    #[must_use]
    pub fn with_expiry_blocks(mut self, blocks: u64) -> Self {
        self.expiry_blocks = blocks;
        self
    }

    /// Sets how long [`Client::execute`] waits for a receipt.
    #[must_use]
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The chain head.
    ///
    /// # Errors
    /// [`ClientError::Status`] or [`ClientError::Transport`].
    pub async fn status(&self) -> Result<NodeStatus> {
        let r = self
            .ledger
            .clone()
            .get_status(v1::GetStatusRequest {})
            .await?
            .into_inner();
        Ok(NodeStatus {
            chain_id: r.chain_id,
            height: r.height,
            latest_block_hash: r.latest_block_hash,
            state_root: r.state_root,
            latest_block_time: r.latest_block_time,
            node_version: r.node_version,
            consensus: r.consensus,
            genesis_hash: r.genesis_hash,
            proposers: r.proposers,
        })
    }

    /// The account's nonce and did.
    ///
    /// # Errors
    /// [`ClientError::Status`] or [`ClientError::Transport`]; [`ClientError::Decode`] if the
    /// node returns a malformed address.
    pub async fn account(&self, address: Address) -> Result<Account> {
        let r = self
            .contracts
            .clone()
            .get_account(v1::GetAccountRequest {
                address: address.0.to_vec(),
            })
            .await?
            .into_inner();
        let returned = if r.address.is_empty() {
            address
        } else {
            bytes_to_address(&r.address, "GetAccountResponse.address")?
        };
        Ok(Account {
            address: returned,
            next_nonce: r.next_nonce,
            did: (!r.did.is_empty()).then_some(r.did),
            roles: r.roles,
            enrolled: r.enrolled,
        })
    }

    /// The nonce `address`'s next transaction must carry.
    ///
    /// # Errors
    /// As [`Client::account`].
    pub async fn next_nonce(&self, address: Address) -> Result<u64> {
        Ok(self.account(address).await?.next_nonce)
    }

    /// Sends a transaction to the node's pool; returns its hash once accepted.
    ///
    /// # Errors
    /// [`ClientError::Status`] with the node's reason if it refuses the transaction.
    pub async fn submit(&self, tx: &SignedTx) -> Result<Hash> {
        let r = self
            .ledger
            .clone()
            .submit(v1::SubmitRequest {
                tx: Some(tx.as_proto().clone()),
            })
            .await?
            .into_inner();
        Hash::from_slice(&r.tx_hash).ok_or_else(|| {
            ClientError::Decode(format!("tx_hash is {} bytes, not 32", r.tx_hash.len()))
        })
    }

    /// Submits and waits until the transaction is committed, returning its receipt whatever its
    /// status (use [`check_receipt`] to turn a failure into an error).
    ///
    /// Within `timeout` it tries again while the node answers `UNAVAILABLE` (in a consortium:
    /// no leader at the moment, or the leader unreachable; the same signed transaction can
    /// only commit once, so a retry is safe), and a transaction the node says is committed
    /// already (`ALREADY_EXISTS`, e.g. an earlier attempt went through) answers with its
    /// receipt.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] if no receipt arrives within `timeout` (the transaction may still
    /// commit); [`ClientError::Status`] if the node refuses it.
    pub async fn submit_and_wait(&self, tx: &SignedTx, timeout: Duration) -> Result<v1::Receipt> {
        let tx_hash = tx.hash().to_hex();
        let started = tokio::time::Instant::now();
        loop {
            let remaining = timeout.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return Err(ClientError::Timeout { tx_hash });
            }
            let mut req = tonic::Request::new(v1::SubmitRequest {
                tx: Some(tx.as_proto().clone()),
            });
            req.set_timeout(remaining);
            let mut ledger = self.ledger.clone();
            // The grpc-timeout header asks the node to give up in time; the local timer (with a
            // margin for the network) covers a node that ignores it.
            let margin = remaining.saturating_add(Duration::from_secs(1));
            let resp = match tokio::time::timeout(margin, ledger.submit_and_wait(req)).await {
                Err(_) => return Err(ClientError::Timeout { tx_hash }),
                Ok(Err(s)) if s.code() == tonic::Code::DeadlineExceeded => {
                    return Err(ClientError::Timeout { tx_hash })
                }
                Ok(Err(s)) if s.code() == tonic::Code::Unavailable => {
                    if started.elapsed() + RETRY_PAUSE >= timeout {
                        return Err(s.into());
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                    continue;
                }
                Ok(Err(s)) if s.code() == tonic::Code::AlreadyExists => {
                    // Committed already, or waiting in the node's mempool: poll its receipt.
                    loop {
                        match self.receipt(&tx.hash()).await {
                            Err(ClientError::Status {
                                code: tonic::Code::NotFound,
                                ..
                            }) if started.elapsed() + RETRY_PAUSE < timeout => {
                                tokio::time::sleep(RETRY_PAUSE).await;
                            }
                            Err(ClientError::Status {
                                code: tonic::Code::NotFound,
                                ..
                            }) => return Err(ClientError::Timeout { tx_hash }),
                            other => return other,
                        }
                    }
                }
                Ok(r) => r?.into_inner(),
            };
            return resp.receipt.ok_or_else(|| {
                ClientError::Decode(format!("SubmitAndWait returned no receipt for {tx_hash}"))
            });
        }
    }

    /// Opens a submit stream (`Ledger.SubmitStream`): many transactions over one call, for a
    /// batch. The node admits them in the order sent, with the same checks as
    /// [`Client::submit`], and answers each exactly once on the receiver: a refusal as soon as
    /// it knows one, a receipt once the transaction commits — receipts in commit order. It
    /// paces the sender: at most `submit_stream_window` transactions (1,024 by default) are
    /// unanswered at a time, and one the mempool has no room for yet (its sender has
    /// `mempool_per_account` waiting) waits, with those after it, until a block makes room.
    /// Read the receiver while sending (from another task): the node reads nothing more while
    /// its answers wait. Close (or drop) the sender when done: the receiver then gets the
    /// remaining answers and the end of the stream.
    ///
    /// ```no_run
    /// # async fn demo(txs: Vec<hanok_client::SignedTx>) -> hanok_client::Result<()> {
    /// use hanok_client::{Client, ClientError};
    /// let client = Client::connect("http://127.0.0.1:7070").await?;
    /// let (mut sender, mut answers) = client.submit_stream().await?;
    /// let sending = tokio::spawn(async move {
    ///     for tx in &txs {
    ///         sender.send(tx).await?;
    ///     }
    ///     Ok::<_, ClientError>(()) // the sender is dropped: the stream is half-closed
    /// });
    /// while let Some(a) = answers.next().await? {
    ///     match a.outcome {
    ///         Ok(receipt) => println!("#{} committed at height {}", a.seq, receipt.height),
    ///         Err(e) => println!("#{} ({}) not committed: {e}", a.seq, a.tx_hash),
    ///     }
    /// }
    /// sending.await.map_err(|e| ClientError::Invalid(e.to_string()))??;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ClientError::Status`] (`RESOURCE_EXHAUSTED` when the node or this connection has its
    /// most streams open) or [`ClientError::Transport`].
    pub async fn submit_stream(&self) -> Result<(SubmitSender, SubmitReceiver)> {
        let (tx, rx) = tokio::sync::mpsc::channel(crate::stream::SEND_BUFFER);
        let answers = self
            .ledger
            .clone()
            .submit_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?
            .into_inner();
        Ok((SubmitSender::new(tx), SubmitReceiver::new(answers)))
    }

    /// A committed transaction's receipt.
    ///
    /// # Errors
    /// [`ClientError::Status`] (e.g. `NOT_FOUND`) or [`ClientError::Transport`].
    pub async fn receipt(&self, tx_hash: &Hash) -> Result<v1::Receipt> {
        let r = self
            .ledger
            .clone()
            .get_receipt(v1::GetReceiptRequest {
                tx_hash: tx_hash.0.to_vec(),
            })
            .await?
            .into_inner();
        r.receipt.ok_or_else(|| {
            ClientError::Decode(format!("GetReceipt returned no receipt for {tx_hash}"))
        })
    }

    /// A committed transaction, exactly as signed, with where it is: (tx, height, index in
    /// block).
    ///
    /// # Errors
    /// [`ClientError::Status`] (e.g. `NOT_FOUND`) or [`ClientError::Transport`].
    pub async fn transaction(&self, tx_hash: &Hash) -> Result<(SignedTx, u64, u32)> {
        let r = self
            .ledger
            .clone()
            .get_transaction(v1::GetTransactionRequest {
                tx_hash: tx_hash.0.to_vec(),
            })
            .await?
            .into_inner();
        let tx = r.tx.ok_or_else(|| {
            ClientError::Decode(format!(
                "GetTransaction returned no transaction for {tx_hash}"
            ))
        })?;
        Ok((SignedTx::from_proto(tx), r.height, r.index))
    }

    /// A transaction template for `signer`: this node's chain id, the signer's next nonce, an
    /// expiry [`DEFAULT_EXPIRY_BLOCKS`] after the head and the client's gas limit. Add calls,
    /// sign, submit.
    ///
    /// # Errors
    /// As [`Client::status`] and [`Client::account`].
    pub async fn tx_builder(&self, signer: &Signer) -> Result<TxBuilder> {
        let status = self.status().await?;
        let nonce = self.next_nonce(signer.address()).await?;
        Ok(TxBuilder::new(status.chain_id)
            .nonce(nonce)
            .expiry_height(status.height.saturating_add(self.expiry_blocks))
            .gas_limit(self.gas_limit))
    }

    /// Executes `msg` on `contract` as `signer`: fetches the nonce, builds, signs, submits and
    /// waits for the receipt.
    ///
    /// # Errors
    /// [`ClientError::Contract`] with the contract's message if it refused (writes reverted);
    /// [`ClientError::Vm`], [`ClientError::Rejected`], [`ClientError::Timeout`], or the node's
    /// [`ClientError::Status`].
    pub async fn execute<T: Serialize + ?Sized>(
        &self,
        signer: &Signer,
        contract: Address,
        msg: &T,
    ) -> Result<v1::Receipt> {
        let tx = self
            .tx_builder(signer)
            .await?
            .execute(contract, msg)?
            .sign(signer)?;
        self.submit_and_wait_ok(&tx).await
    }

    /// Submits, waits, and turns a failed receipt into an error (see [`check_receipt`]).
    ///
    /// # Errors
    /// As [`Client::execute`].
    pub async fn submit_and_wait_ok(&self, tx: &SignedTx) -> Result<v1::Receipt> {
        check_receipt(self.submit_and_wait(tx, self.wait).await?)
    }

    /// Runs `contract`'s read-only `query` with `msg` and decodes the JSON answer.
    ///
    /// # Errors
    /// [`ClientError::Status`] if the node or the contract refuses the query;
    /// [`ClientError::Decode`] if the answer is not an `R`.
    pub async fn query<R: DeserializeOwned, T: Serialize + ?Sized>(
        &self,
        contract: Address,
        msg: &T,
    ) -> Result<R> {
        let msg = serde_json::to_vec(msg)
            .map_err(|e| ClientError::Invalid(format!("query message to JSON: {e}")))?;
        let data = self.query_raw(contract, msg).await?;
        serde_json::from_slice(&data)
            .map_err(|e| ClientError::Decode(format!("query answer is not the expected JSON: {e}")))
    }

    /// Runs a query with raw JSON bytes and returns the raw answer.
    ///
    /// # Errors
    /// [`ClientError::Status`] or [`ClientError::Transport`].
    pub async fn query_raw(&self, contract: Address, msg: Vec<u8>) -> Result<Vec<u8>> {
        let r = self
            .contracts
            .clone()
            .query(v1::QueryRequest {
                contract: contract.0.to_vec(),
                msg,
            })
            .await?
            .into_inner();
        Ok(r.data)
    }

    /// Executes a signed transaction against committed state without committing it; the
    /// receipt says what would happen (gas used, events, error).
    ///
    /// # Errors
    /// [`ClientError::Status`] or [`ClientError::Transport`].
    pub async fn simulate(&self, tx: &SignedTx) -> Result<Simulation> {
        let r = self
            .contracts
            .clone()
            .simulate(v1::SimulateRequest {
                tx: Some(tx.as_proto().clone()),
                then: Vec::new(),
            })
            .await?
            .into_inner();
        let receipt = r
            .receipt
            .ok_or_else(|| ClientError::Decode("Simulate returned no receipt".into()))?;
        Ok(Simulation {
            receipt,
            diff: r.diff,
        })
    }

    /// Dry-runs `txs` in order as the next block would run them, each on the writes of those
    /// before it; nothing is committed. Each may be signed or an unsigned dry run
    /// ([`crate::TxBuilder::dry_run`]), so a client can see what a step would do once others
    /// have signed theirs: say, a settlement after the approvals it still needs. At most 16.
    ///
    /// ```no_run
    /// # async fn demo(client: hanok_client::Client, deal: hanok_types::Address,
    /// #     officials: [hanok_types::Address; 2]) -> hanok_client::Result<()> {
    /// use hanok_client::messages::deal::ExecuteMsg;
    /// let builder = hanok_client::TxBuilder::new(client.status().await?.chain_id);
    /// let approve = ExecuteMsg::Approve { deal_id: 1 };
    /// let settle = ExecuteMsg::Settle { deal_id: 1 };
    /// let txs = [
    ///     builder.clone().execute(deal, &approve)?.dry_run(officials[0])?,
    ///     builder.clone().execute(deal, &approve)?.dry_run(officials[1])?,
    ///     builder.execute(deal, &settle)?.dry_run(officials[0])?,
    /// ];
    /// let sim = client.simulate_sequence(&txs).await?;
    /// for event in &sim.receipts[2].events {
    ///     println!("{}", event.r#type);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for an empty list; [`ClientError::Status`] (e.g.
    /// `INVALID_ARGUMENT` for more than 16) or [`ClientError::Transport`].
    pub async fn simulate_sequence(&self, txs: &[SignedTx]) -> Result<SequenceSimulation> {
        let Some((first, then)) = txs.split_first() else {
            return Err(ClientError::Invalid(
                "a dry run needs at least one transaction".into(),
            ));
        };
        let r = self
            .contracts
            .clone()
            .simulate(v1::SimulateRequest {
                tx: Some(first.as_proto().clone()),
                then: then.iter().map(|t| t.as_proto().clone()).collect(),
            })
            .await?
            .into_inner();
        let first = r
            .receipt
            .ok_or_else(|| ClientError::Decode("Simulate returned no receipt".into()))?;
        if r.then_receipts.len() != then.len() {
            return Err(ClientError::Decode(format!(
                "Simulate returned {} receipts for {} transactions after the first",
                r.then_receipts.len(),
                then.len()
            )));
        }
        let mut receipts = Vec::with_capacity(txs.len());
        receipts.push(first);
        receipts.extend(r.then_receipts);
        Ok(SequenceSimulation {
            receipts,
            diff: r.diff,
        })
    }

    /// Events of committed blocks from `from_height` on, then live as blocks commit: of
    /// `contract` only when given, of type `ty` only when given. The stream ends when the node
    /// does (reconnect and resume from the last height seen plus one).
    ///
    /// # Errors
    /// [`ClientError::Status`] or [`ClientError::Transport`] when the stream cannot start;
    /// each item may carry a [`tonic::Status`] later.
    pub async fn stream_events(
        &self,
        from_height: u64,
        contract: Option<Address>,
        ty: Option<&str>,
    ) -> Result<tonic::Streaming<v1::EventEnvelope>> {
        Ok(self
            .ledger
            .clone()
            .stream_events(v1::StreamEventsRequest {
                from_height,
                contract: contract.map_or_else(Vec::new, |a| a.0.to_vec()),
                r#type: ty.unwrap_or_default().to_string(),
            })
            .await?
            .into_inner())
    }

    /// The block at `height`, with its header hash.
    ///
    /// # Errors
    /// [`ClientError::Status`] (e.g. `NOT_FOUND`) or [`ClientError::Transport`].
    pub async fn block(&self, height: u64) -> Result<(v1::Block, Hash)> {
        self.get_block(Some(height), None).await
    }

    /// The latest committed block, with its header hash.
    ///
    /// # Errors
    /// As [`Client::block`].
    pub async fn latest_block(&self) -> Result<(v1::Block, Hash)> {
        self.get_block(None, None).await
    }

    /// The block whose header hashes to `hash`.
    ///
    /// # Errors
    /// As [`Client::block`]; `NOT_FOUND` if no committed block has that hash.
    pub async fn block_by_hash(&self, hash: &Hash) -> Result<v1::Block> {
        self.get_block(None, Some(hash)).await.map(|(b, _)| b)
    }

    async fn get_block(
        &self,
        height: Option<u64>,
        hash: Option<&Hash>,
    ) -> Result<(v1::Block, Hash)> {
        let r = self
            .ledger
            .clone()
            .get_block(v1::GetBlockRequest {
                height,
                hash: hash.map(|h| h.0.to_vec()).unwrap_or_default(),
            })
            .await?
            .into_inner();
        let block = r
            .block
            .ok_or_else(|| ClientError::Decode("GetBlock returned no block".into()))?;
        let hash = Hash::from_slice(&r.hash).ok_or_else(|| {
            ClientError::Decode(format!("block hash is {} bytes, not 32", r.hash.len()))
        })?;
        Ok((block, hash))
    }

    /// The value of `storage_key` in `contract`'s storage (or its absence), with a proof that
    /// this client has already checked against the returned header's state root.
    ///
    /// The header itself is only as trustworthy as its source: compare its hash with one you
    /// trust, or use [`Client::title_proof`], which also fetches the proposer's signature.
    ///
    /// # Errors
    /// [`ClientError::ProofInvalid`] if the node's answer does not check;
    /// [`ClientError::Status`] or [`ClientError::Transport`].
    pub async fn state_proof(&self, contract: Address, storage_key: &[u8]) -> Result<StateProof> {
        let r = self
            .proofs
            .clone()
            .get_state_proof(v1::GetStateProofRequest {
                key: Vec::new(),
                contract: contract.0.to_vec(),
                contract_key: storage_key.to_vec(),
            })
            .await?
            .into_inner();
        let expected_key = crate::proof::contract_state_key(&contract, storage_key);
        if !r.key.is_empty() && r.key != expected_key {
            return Err(ClientError::ProofInvalid(
                "the node proved another state key than the one asked for".into(),
            ));
        }
        let header = r
            .header
            .ok_or_else(|| ClientError::Decode("GetStateProof returned no header".into()))?;
        let proof = StateProof {
            key: expected_key,
            value: r.value,
            proof: r.proof,
            header,
        };
        proof.verify()?;
        Ok(proof)
    }

    /// Parcel `parcel_id`'s title in `registry`, with a proof against a committed header and the
    /// proposer's signature over that header: a [`TitleProof`] to check now or save as JSON and
    /// check offline later.
    ///
    /// # Errors
    /// As [`Client::state_proof`] and [`Client::block`]; [`ClientError::ProofInvalid`] if the
    /// block at the proof's height has another header.
    pub async fn title_proof(&self, registry: Address, parcel_id: &str) -> Result<TitleProof> {
        let key = crate::proof::parcel_storage_key(parcel_id);
        let sp = self.state_proof(registry, &key).await?;
        let (block, _) = self.block(sp.header.height).await?;
        if block.header.as_ref() != Some(&sp.header) {
            return Err(ClientError::ProofInvalid(format!(
                "the proof's header differs from block {}'s header",
                sp.header.height
            )));
        }
        let title = TitleProof::new(
            registry,
            parcel_id,
            &sp.header,
            &block.signature,
            sp.value,
            sp.proof,
        );
        title.verify()?;
        Ok(title)
    }

    /// The node's attestation that the block it applied at `height` has the header hashing to
    /// the returned hash (`AttestHeader`): what a title certificate collects from a quorum of
    /// consortium members ([`crate::TitleCertificate::add_attestation`]).
    ///
    /// # Errors
    /// [`ClientError::Status`] (`NOT_FOUND` above the node's height) or
    /// [`ClientError::Transport`]; [`ClientError::Decode`] for a malformed answer.
    pub async fn attest_header(&self, height: u64) -> Result<crate::certificate::Attestation> {
        let r = self
            .proofs
            .clone()
            .attest_header(v1::AttestHeaderRequest { height })
            .await?
            .into_inner();
        let header_hash = Hash::from_slice(&r.header_hash)
            .ok_or_else(|| ClientError::Decode("attestation header hash is not 32 bytes".into()))?;
        let key = hanok_types::PublicKey::from_compressed(&r.node_key)
            .ok_or_else(|| ClientError::Decode("attestation node key is not a key".into()))?;
        Ok(crate::certificate::Attestation {
            header_hash: header_hash.to_hex(),
            node_key: key.did(),
            signature: hex::encode(r.signature),
        })
    }

    /// A title certificate of `parcel_id` ([`crate::TitleCertificate`]): its title proof bound
    /// to this chain's genesis (block 0's hash and the genesis proposers), checked here against
    /// the node's `genesis_hash` before it is returned.
    ///
    /// # Errors
    /// As [`Client::title_proof`]; [`ClientError::ProofInvalid`] if the node's genesis, block 0
    /// and proposers do not agree, or the header is not signed by a genesis proposer.
    pub async fn title_certificate(
        &self,
        registry: Address,
        parcel_id: &str,
    ) -> Result<crate::TitleCertificate> {
        let status = self.status().await?;
        let trusted = Hash::from_slice(&status.genesis_hash).ok_or_else(|| {
            ClientError::Decode("the node does not report its genesis hash (an older node?)".into())
        })?;
        let proposers = status
            .proposers
            .iter()
            .map(|k| {
                hanok_types::PublicKey::from_compressed(k).ok_or_else(|| {
                    ClientError::Decode("the node reports a proposer that is not a key".into())
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (block0, _) = self.block(0).await?;
        let block0_genesis = block0
            .header
            .as_ref()
            .and_then(|h| Hash::from_slice(&h.prev_hash))
            .ok_or_else(|| ClientError::Decode("block 0 has no genesis hash".into()))?;
        let title = self.title_proof(registry, parcel_id).await?;
        let certificate = crate::TitleCertificate::new(title, &block0_genesis, &proposers);
        // Only the parts one node can vouch for: a consortium's quorum is added by the caller.
        certificate.check_unattested(&trusted)?;
        Ok(certificate)
    }
}

/// Turns a receipt into `Ok` if the transaction succeeded, else into the matching error.
///
/// # Errors
/// [`ClientError::Contract`] (`TX_STATUS_CONTRACT_ERROR`), [`ClientError::Vm`],
/// [`ClientError::Rejected`], or [`ClientError::Decode`] for an unknown status.
pub fn check_receipt(receipt: v1::Receipt) -> Result<v1::Receipt> {
    let tx_hash = hex::encode(&receipt.tx_hash);
    match v1::TxStatus::try_from(receipt.status) {
        Ok(v1::TxStatus::Ok) => Ok(receipt),
        Ok(v1::TxStatus::ContractError) => Err(ClientError::Contract {
            message: receipt.error,
            failed_call: receipt.failed_call,
            tx_hash,
        }),
        Ok(v1::TxStatus::VmError) => Err(ClientError::Vm {
            message: receipt.error,
            tx_hash,
        }),
        Ok(v1::TxStatus::Rejected) => Err(ClientError::Rejected {
            message: receipt.error,
            tx_hash,
        }),
        Ok(v1::TxStatus::Unspecified) | Err(_) => Err(ClientError::Decode(format!(
            "receipt of {tx_hash} has unknown status {}",
            receipt.status
        ))),
    }
}

/// The JSON return data of call `index` of a successful receipt (`null` when the call returned
/// none).
///
/// # Errors
/// [`ClientError::Decode`] if there is no such call result or it is not JSON.
pub fn call_result(receipt: &v1::Receipt, index: usize) -> Result<serde_json::Value> {
    let data = receipt.results.get(index).ok_or_else(|| {
        ClientError::Decode(format!(
            "receipt has {} call results, no result {index}",
            receipt.results.len()
        ))
    })?;
    if data.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(data)
        .map_err(|e| ClientError::Decode(format!("call result {index} is not JSON: {e}")))
}

impl Client {
    /// A page of the deployed contracts, in address order: at most `limit` of them (0: the
    /// node's default page) after `start_after` (`None`: from the first).
    ///
    /// # Errors
    /// [`ClientError::Status`] or [`ClientError::Transport`].
    pub async fn list_contracts(
        &self,
        start_after: Option<Address>,
        limit: u32,
    ) -> Result<Vec<v1::ContractInfo>> {
        let r = self
            .contracts
            .clone()
            .list_contracts(v1::ListContractsRequest {
                start_after: start_after.map(|a| a.0.to_vec()).unwrap_or_default(),
                limit,
            })
            .await?
            .into_inner();
        Ok(r.contracts)
    }

    /// Every deployed contract, following [`Client::list_contracts`] pages to the end.
    ///
    /// # Errors
    /// As [`Client::list_contracts`]; [`ClientError::Decode`] if the node returns a malformed
    /// address or a page that does not move forward.
    pub async fn all_contracts(&self) -> Result<Vec<v1::ContractInfo>> {
        let mut all = Vec::new();
        let mut after: Option<Address> = None;
        loop {
            let page = self.list_contracts(after, 0).await?;
            let Some(last) = page.last() else {
                return Ok(all);
            };
            let last = bytes_to_address(&last.address, "ContractInfo.address")?;
            if after.is_some_and(|a| last <= a) {
                return Err(ClientError::Decode(
                    "ListContracts returned a page that does not move forward".into(),
                ));
            }
            after = Some(last);
            all.extend(page);
        }
    }
}
