//! The gRPC services (Ledger, Contracts, Proofs, health, reflection) and the server with its
//! explicit limits: each method decodes its request, calls the ledger on the blocking pool and
//! encodes the answer; errors become statuses in `status.rs` only.

use crate::net::Conn;
use crate::node::{now_secs, Gate, Shared, HEALTH_SERVICES};
use crate::status;
use crate::subscriptions::{self, Subscription};
use hanok_ledger::CommittedBlock;
use hanok_proto::v1::{self, contracts_server, ledger_server, proofs_server};
use hanok_types::{Address, Hash};
use hanok_vm::layout;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tonic::{Request, Response, Status};
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService};

type Res<T> = Result<Response<T>, Status>;

/// Spawns the tonic server on the connections of `incoming` and returns its task and the
/// health reporter; health answers `NOT_SERVING` until the node sets it.
pub(crate) async fn serve(
    gate: Arc<Gate>,
    incoming: impl tokio_stream::Stream<Item = std::io::Result<Conn>> + Send + 'static,
    tls: Option<tonic::transport::ServerTlsConfig>,
    mut shutdown: watch::Receiver<bool>,
    raft: Option<crate::consortium::LazyRaft>,
) -> crate::Result<(
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    HealthReporter,
)> {
    let cfg = gate.config.clone();
    let max = cfg.max_message_bytes;
    let ledger = ledger_server::LedgerServer::new(Api(gate.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let contracts = contracts_server::ContractsServer::new(Api(gate.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let proofs = proofs_server::ProofsServer::new(Api(gate.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let reporter = HealthReporter::new();
    for name in HEALTH_SERVICES {
        reporter
            .set_service_status(name, tonic_health::ServingStatus::NotServing)
            .await;
    }
    let health = HealthServer::new(NodeHealth {
        inner: HealthService::from_health_reporter(reporter.clone()),
        gate: gate.clone(),
    });
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(hanok_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1();
    let reflection_v1alpha = reflection().build_v1alpha();
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let router = builder
        // Every request runs in a span naming the calling organisation (from its client
        // certificate under mutual TLS) and the method, so each log line says who asked.
        .trace_fn(|req| {
            if !tracing::enabled!(tracing::Level::DEBUG) {
                return tracing::Span::none();
            }
            let org = crate::tls::caller(req.extensions());
            let span = tracing::debug_span!("request", org = %org, method = %req.uri().path());
            span.in_scope(|| tracing::debug!("call"));
            span
        })
        .timeout(cfg.request_timeout())
        .concurrency_limit_per_connection(cfg.concurrency_per_connection)
        .max_concurrent_streams(cfg.max_concurrent_streams)
        // A peer that does not answer a ping within the timeout is gone: its connection (and
        // its descriptor) is closed.
        .http2_keepalive_interval(Some(cfg.keepalive_interval()))
        .http2_keepalive_timeout(Some(cfg.keepalive_timeout()))
        .add_service(health)
        .add_service(ledger)
        .add_service(contracts)
        .add_service(proofs)
        .add_optional_service(raft.map(|r| r.server()));
    let router = match reflection_v1 {
        Ok(r) => router.add_service(r),
        Err(e) => {
            tracing::warn!(error = %e, "reflection v1 unavailable");
            router
        }
    };
    let router = match reflection_v1alpha {
        Ok(r) => router.add_service(r),
        Err(e) => {
            tracing::warn!(error = %e, "reflection v1alpha unavailable");
            router
        }
    };
    let server = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
    });
    Ok((server, reporter))
}

/// The standard health service, with what the node is doing (`serving`, `replaying: block H of
/// N`, `halted: …`, `stopping`) in the `hanok-status` metadata of each `Check` answer: the
/// health protocol's answer itself has no room for a message.
struct NodeHealth {
    inner: HealthService,
    gate: Arc<Gate>,
}

#[tonic::async_trait]
impl Health for NodeHealth {
    async fn check(&self, req: Request<HealthCheckRequest>) -> Res<HealthCheckResponse> {
        let mut answer = self.inner.check(req).await?;
        if let Ok(v) = self.gate.phase().parse() {
            answer.metadata_mut().insert("hanok-status", v);
        }
        Ok(answer)
    }

    type WatchStream = <HealthService as Health>::WatchStream;

    async fn watch(&self, req: Request<HealthCheckRequest>) -> Res<Self::WatchStream> {
        self.inner.watch(req).await
    }
}

/// Every service, over the node once it serves (see [`Gate`]).
#[derive(Clone)]
pub(crate) struct Api(Arc<Gate>);

fn address(field: &str, bytes: &[u8]) -> Result<Address, Status> {
    Address::from_slice(bytes).ok_or_else(|| {
        status::bad_field(
            field,
            &format!("must be a 20-byte address, got {} bytes", bytes.len()),
        )
    })
}

fn hash(field: &str, bytes: &[u8]) -> Result<Hash, Status> {
    Hash::from_slice(bytes).ok_or_else(|| {
        status::bad_field(
            field,
            &format!("must be a 32-byte hash, got {} bytes", bytes.len()),
        )
    })
}

/// Parses a `grpc-timeout` header value (`<digits><unit>`).
fn grpc_timeout<T>(req: &Request<T>) -> Option<Duration> {
    let v = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl Api {
    /// The node, or `UNAVAILABLE` while it replays or once it stops.
    fn node(&self) -> Result<&Arc<Shared>, Status> {
        self.0.node()
    }

    /// In a consortium, when this node is not the leader: the way to it.
    /// A member that halted takes no write: it could never apply the block.
    fn follower(&self) -> Result<Option<Arc<crate::consortium::Consortium>>, Status> {
        self.node()?.follower()
    }

    /// The stateless checks on the signature-check pool (one thread per core, niced; see
    /// `verify`), then the ledger's admission on the blocking pool (it waits for the chain's
    /// read lock, which a block commit holds for a while, so signature checks go on meanwhile).
    /// With `wait`, a waiter for the receipt is registered before the mempool can hand the
    /// transaction to a block.
    async fn admit(
        &self,
        signed: Option<v1::SignedTx>,
        wait: bool,
    ) -> Result<(Hash, Option<oneshot::Receiver<Result<v1::Receipt, Status>>>), Status> {
        let result = self.try_admit(signed, wait).await;
        let code = result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        self.0
            .metrics
            .submissions
            .get_or_create(&[("result", crate::metrics::code_label(code))])
            .inc();
        result
    }

    async fn try_admit(
        &self,
        signed: Option<v1::SignedTx>,
        wait: bool,
    ) -> Result<(Hash, Option<oneshot::Receiver<Result<v1::Receipt, Status>>>), Status> {
        let s = self.node()?;
        if let Some(reason) = s.ledger.halted() {
            return Err(status::halted(&reason));
        }
        let signed = signed.ok_or_else(|| status::bad_field("tx", "missing SignedTx"))?;
        let checked = s
            .check_later(signed)
            .await
            .map_err(|e| status::task(&e))?
            .map_err(|e| status::ledger(&e))?;
        let hash = checked.hash();
        // Register before admitting, or the block could commit before anyone listens.
        let waiter = wait.then(|| s.add_waiter(hash));
        if let Err(e) = s.blocking(move |l| l.admit(checked)).await {
            if let Some(w) = waiter {
                drop(w);
                s.forget_abandoned(&hash);
            }
            return Err(e);
        }
        // The producer sleeps until something is waiting (a stored permit if it is busy).
        s.wake.notify_one();
        Ok((hash, waiter))
    }
}

#[tonic::async_trait]
impl ledger_server::Ledger for Api {
    async fn submit(&self, req: Request<v1::SubmitRequest>) -> Res<v1::SubmitResponse> {
        if let Some(c) = self.follower()? {
            let tx = req
                .into_inner()
                .tx
                .ok_or_else(|| status::bad_field("tx", "missing SignedTx"))?;
            return c.forward(tx).await.map(Response::new);
        }
        let (hash, _) = self.admit(req.into_inner().tx, false).await?;
        Ok(Response::new(v1::SubmitResponse {
            tx_hash: hash.0.to_vec(),
        }))
    }

    async fn submit_and_wait(
        &self,
        req: Request<v1::SubmitRequest>,
    ) -> Res<v1::SubmitAndWaitResponse> {
        // Answer just before the server's own timeout so the client gets our message.
        let limit = grpc_timeout(&req).map_or(self.0.config.request_timeout(), |t| {
            t.min(self.0.config.request_timeout())
        });
        let wait = limit.saturating_sub(Duration::from_millis(100).min(limit / 10));
        let started = tokio::time::Instant::now();
        let (hash, waiter) = match self.follower()? {
            // A follower hands the transaction to the leader and answers once the block is
            // ordered and applied here.
            Some(c) => {
                let tx = req
                    .into_inner()
                    .tx
                    .ok_or_else(|| status::bad_field("tx", "missing SignedTx"))?;
                let hash = hanok_types::tx_hash(&tx.body, &tx.signature);
                let s = self.node()?;
                let waiter = s.add_waiter(hash);
                if let Err(e) = c.forward(tx).await {
                    drop(waiter);
                    s.forget_abandoned(&hash);
                    return Err(e);
                }
                (hash, Some(waiter))
            }
            None => self.admit(req.into_inner().tx, true).await?,
        };
        let waiter = waiter.ok_or_else(|| status::task(&"no waiter registered"))?;
        let remaining = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, waiter).await {
            Ok(Ok(Ok(receipt))) => Ok(Response::new(v1::SubmitAndWaitResponse {
                tx_hash: hash.0.to_vec(),
                receipt: Some(receipt),
            })),
            Ok(Ok(Err(status))) => Err(status),
            Ok(Err(_)) => Err(status::stopped_before_commit()),
            Err(_) => Err(status::wait_deadline(&hash, wait)),
        }
    }

    async fn get_transaction(
        &self,
        req: Request<v1::GetTransactionRequest>,
    ) -> Res<v1::GetTransactionResponse> {
        let h = hash("tx_hash", &req.into_inner().tx_hash)?;
        let (tx, height, index) = self.node()?.blocking(move |l| l.transaction(h)).await?;
        Ok(Response::new(v1::GetTransactionResponse {
            tx: Some(tx),
            height,
            index,
        }))
    }

    async fn get_receipt(
        &self,
        req: Request<v1::GetReceiptRequest>,
    ) -> Res<v1::GetReceiptResponse> {
        let h = hash("tx_hash", &req.into_inner().tx_hash)?;
        let receipt = self.node()?.blocking(move |l| l.receipt(h)).await?;
        Ok(Response::new(v1::GetReceiptResponse {
            receipt: Some(receipt),
        }))
    }

    async fn get_block(&self, req: Request<v1::GetBlockRequest>) -> Res<v1::GetBlockResponse> {
        let r = req.into_inner();
        let (block, hash) = match (r.height, r.hash.is_empty()) {
            (Some(_), false) => {
                return Err(status::bad_field(
                    "hash",
                    "set either height or hash, not both",
                ))
            }
            (height, true) => self.node()?.blocking(move |l| l.block(height)).await?,
            (None, false) => {
                let h = Hash::from_slice(&r.hash).ok_or_else(|| {
                    status::bad_field(
                        "hash",
                        &format!("a block hash is 32 bytes, got {}", r.hash.len()),
                    )
                })?;
                (self.node()?.blocking(move |l| l.block_by_hash(h)).await?, h)
            }
        };
        Ok(Response::new(v1::GetBlockResponse {
            block: Some(block),
            hash: hash.0.to_vec(),
        }))
    }

    async fn get_status(&self, _: Request<v1::GetStatusRequest>) -> Res<v1::GetStatusResponse> {
        let node = self.node()?;
        let s = node.blocking(|l| l.status()).await?;
        Ok(Response::new(v1::GetStatusResponse {
            genesis_hash: node.genesis_hash.to_vec(),
            proposers: node.proposers.clone(),
            chain_id: s.chain_id,
            height: s.height,
            latest_block_hash: s.latest_block_hash.0.to_vec(),
            state_root: s.state_root.0.to_vec(),
            latest_block_time: s.latest_block_time,
            node_version: env!("CARGO_PKG_VERSION").to_string(),
            consensus: self.node()?.consortium.get().map(|c| c.status_proto()),
        }))
    }

    type SubmitStreamStream = Subscription<v1::SubmitStreamResponse>;

    async fn submit_stream(
        &self,
        req: Request<tonic::Streaming<v1::SubmitRequest>>,
    ) -> Res<Self::SubmitStreamStream> {
        let conn = crate::net::conn_of(req.extensions());
        let stream = crate::submit_stream::open(self.node()?, conn, req.into_inner())?;
        Ok(Response::new(stream))
    }

    type StreamBlocksStream = Subscription<v1::Block>;

    async fn stream_blocks(
        &self,
        req: Request<v1::StreamBlocksRequest>,
    ) -> Res<Self::StreamBlocksStream> {
        let conn = crate::net::conn_of(req.extensions());
        let from = req.into_inner().from_height;
        let sub = subscriptions::open(self.node()?, conn, from, |b: &CommittedBlock| {
            vec![b.block.clone()]
        })?;
        Ok(Response::new(sub))
    }

    type StreamEventsStream = Subscription<v1::EventEnvelope>;

    async fn stream_events(
        &self,
        req: Request<v1::StreamEventsRequest>,
    ) -> Res<Self::StreamEventsStream> {
        let conn = crate::net::conn_of(req.extensions());
        let r = req.into_inner();
        let contract = if r.contract.is_empty() {
            None
        } else {
            Some(address("contract", &r.contract)?.0.to_vec())
        };
        let ty = (!r.r#type.is_empty()).then_some(r.r#type);
        let sub = subscriptions::open(self.node()?, conn, r.from_height, move |b| {
            let height = b.height();
            b.receipts
                .iter()
                .flat_map(|rc| rc.events.iter().map(move |e| (rc.tx_hash.clone(), e)))
                .filter(|(_, e)| contract.as_ref().is_none_or(|c| *c == e.contract))
                .filter(|(_, e)| ty.as_ref().is_none_or(|t| *t == e.r#type))
                .map(|(tx_hash, e)| v1::EventEnvelope {
                    height,
                    tx_hash,
                    event: Some(e.clone()),
                })
                .collect()
        })?;
        Ok(Response::new(sub))
    }
}

/// The most gas a query may use on the async runtime's own thread (about a millisecond of
/// wasm): a registry `parcel` query needs a few hundred thousand. A query that needs more is
/// run again on the blocking pool with the full query gas limit, so a long or hostile query
/// costs a runtime thread at most this much.
const INLINE_QUERY_GAS: u64 = 1_000_000;

#[tonic::async_trait]
impl contracts_server::Contracts for Api {
    async fn query(&self, req: Request<v1::QueryRequest>) -> Res<v1::QueryResponse> {
        let r = req.into_inner();
        let contract = address("contract", &r.contract)?;
        let node = self.node()?;
        // The short road: a short query while no block is being committed runs here, on the
        // thread that received it; anything else goes to the blocking pool with the full
        // query gas limit.
        let answered = match node
            .ledger
            .try_query_now(contract, &r.msg, INLINE_QUERY_GAS)
        {
            Some(done) => done.map_err(|e| status::ledger(&e))?,
            None => node.blocking(move |l| l.query(contract, &r.msg)).await?,
        };
        let (data, height) = answered;
        Ok(Response::new(v1::QueryResponse { data, height }))
    }

    async fn simulate(&self, req: Request<v1::SimulateRequest>) -> Res<v1::SimulateResponse> {
        let r = req.into_inner();
        let signed =
            r.tx.ok_or_else(|| status::bad_field("tx", "missing SignedTx"))?;
        if r.then.len() >= hanok_ledger::MAX_SIMULATED_TXS {
            return Err(status::bad_field(
                "then",
                &format!(
                    "a dry run takes at most {} transactions (tx and then), got {}",
                    hanok_ledger::MAX_SIMULATED_TXS,
                    r.then.len().saturating_add(1)
                ),
            ));
        }
        let mut txs = Vec::with_capacity(r.then.len().saturating_add(1));
        txs.push(signed);
        txs.extend(r.then);
        let (mut receipts, diff) = self
            .node()?
            .blocking(move |l| l.simulate_sequence(txs, now_secs()))
            .await?;
        let then_receipts = receipts.split_off(1);
        Ok(Response::new(v1::SimulateResponse {
            receipt: receipts.pop(),
            diff,
            then_receipts,
        }))
    }

    async fn get_account(
        &self,
        req: Request<v1::GetAccountRequest>,
    ) -> Res<v1::GetAccountResponse> {
        let a = address("address", &req.into_inner().address)?;
        let account = self.node()?.blocking(move |l| l.account(a)).await?;
        Ok(Response::new(v1::GetAccountResponse {
            address: account.address.0.to_vec(),
            next_nonce: account.next_nonce,
            did: account.did.unwrap_or_default(),
            roles: account
                .roles
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
            enrolled: account.enrolled,
        }))
    }

    async fn list_contracts(
        &self,
        req: Request<v1::ListContractsRequest>,
    ) -> Res<v1::ListContractsResponse> {
        let r = req.into_inner();
        let limit = match r.limit {
            0 => 100,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let start_after = if r.start_after.is_empty() {
            None
        } else {
            Some(address("start_after", &r.start_after)?)
        };
        let contracts = self
            .node()?
            .blocking(move |l| l.contracts(start_after, limit))
            .await?;
        Ok(Response::new(v1::ListContractsResponse { contracts }))
    }

    async fn get_code(&self, req: Request<v1::GetCodeRequest>) -> Res<v1::GetCodeResponse> {
        let h = hash("code_hash", &req.into_inner().code_hash)?;
        let wasm = self.node()?.blocking(move |l| l.code(h)).await?;
        Ok(Response::new(v1::GetCodeResponse { wasm }))
    }
}

#[tonic::async_trait]
impl proofs_server::Proofs for Api {
    async fn get_state_proof(
        &self,
        req: Request<v1::GetStateProofRequest>,
    ) -> Res<v1::GetStateProofResponse> {
        let r = req.into_inner();
        let key = match (r.key.is_empty(), r.contract.is_empty()) {
            (false, true) => r.key,
            (true, false) => {
                layout::storage_key(&address("contract", &r.contract)?, &r.contract_key)
            }
            _ => {
                return Err(status::bad_field(
                    "key",
                    "set either key (a raw state key) or contract + contract_key, not both",
                ))
            }
        };
        // The last header commits to the current state (its root is the root after it).
        let k = key.clone();
        let proof = self.node()?.blocking(move |l| l.state_proof(&k)).await?;
        Ok(Response::new(v1::GetStateProofResponse {
            key,
            value: proof.value,
            proof: proof.proof,
            header: Some(proof.header),
        }))
    }

    async fn attest_header(
        &self,
        req: Request<v1::AttestHeaderRequest>,
    ) -> Res<v1::AttestHeaderResponse> {
        let height = req.into_inner().height;
        let (hash, key, signature) = self.node()?.blocking(move |l| l.attest(height)).await?;
        Ok(Response::new(v1::AttestHeaderResponse {
            header_hash: hash.0.to_vec(),
            node_key: key.to_bytes().to_vec(),
            signature,
        }))
    }
}
