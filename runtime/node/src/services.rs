//! The gRPC services (Ledger, Contracts, Proofs, health, reflection) and the server with its
//! explicit limits: each method decodes its request, calls the ledger on the blocking pool and
//! encodes the answer; errors become statuses in `status.rs` only.

use crate::node::{now_secs, Shared};
use crate::status;
use hanok_ledger::CommittedBlock;
use hanok_proto::v1::{self, contracts_server, ledger_server, proofs_server};
use hanok_types::{Address, Hash};
use hanok_vm::layout;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

type Res<T> = Result<Response<T>, Status>;

/// Spawns the tonic server on `listener` and returns its task.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    tls: Option<tonic::transport::ServerTlsConfig>,
    mut shutdown: watch::Receiver<bool>,
) -> crate::Result<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>> {
    let cfg = shared.config.clone();
    let max = cfg.max_message_bytes;
    let ledger = ledger_server::LedgerServer::new(Api(shared.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let contracts = contracts_server::ContractsServer::new(Api(shared.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let proofs = proofs_server::ProofsServer::new(Api(shared.clone()))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<ledger_server::LedgerServer<Api>>()
        .await;
    reporter
        .set_serving::<contracts_server::ContractsServer<Api>>()
        .await;
    reporter
        .set_serving::<proofs_server::ProofsServer<Api>>()
        .await;
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
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(health)
        .add_service(ledger)
        .add_service(contracts)
        .add_service(proofs);
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
    // Without TCP_NODELAY, Nagle's algorithm holds a small response until the client's delayed
    // ACK (about 40 ms on Linux): every unary call would take that long on an idle node.
    let incoming = tokio_stream::StreamExt::map(TcpListenerStream::new(listener), |conn| {
        conn.inspect(|stream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::warn!(error = %e, "could not set TCP_NODELAY");
            }
        })
    });
    Ok(tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
    }))
}

/// Every service, over the shared node state.
#[derive(Clone)]
pub(crate) struct Api(Arc<Shared>);

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
        let s = &self.0;
        if let Some(reason) = s.ledger.halted() {
            return Err(status::halted(&reason));
        }
        let signed = signed.ok_or_else(|| status::bad_field("tx", "missing SignedTx"))?;
        let (tx, rx) = oneshot::channel();
        let shared = s.clone();
        crate::verify::spawn(move || {
            let _ = tx.send(shared.ledger.check(signed));
        });
        let checked = rx
            .await
            .map_err(|e| status::task(&e))?
            .map_err(|e| status::ledger(&e))?;
        let hash = checked.hash();
        // Register before admitting, or the block could commit before anyone listens.
        let waiter = wait.then(|| s.add_waiter(hash));
        if let Err(e) = s.blocking(move |l| l.admit(checked)).await {
            if wait {
                s.drop_waiters(&hash);
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
        let (hash, waiter) = self.admit(req.into_inner().tx, true).await?;
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
        let (tx, height, index) = self.0.blocking(move |l| l.transaction(h)).await?;
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
        let receipt = self.0.blocking(move |l| l.receipt(h)).await?;
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
            (height, true) => self.0.blocking(move |l| l.block(height)).await?,
            (None, false) => {
                let h = Hash::from_slice(&r.hash).ok_or_else(|| {
                    status::bad_field(
                        "hash",
                        &format!("a block hash is 32 bytes, got {}", r.hash.len()),
                    )
                })?;
                (self.0.blocking(move |l| l.block_by_hash(h)).await?, h)
            }
        };
        Ok(Response::new(v1::GetBlockResponse {
            block: Some(block),
            hash: hash.0.to_vec(),
        }))
    }

    async fn get_status(&self, _: Request<v1::GetStatusRequest>) -> Res<v1::GetStatusResponse> {
        let s = self.0.blocking(|l| l.status()).await?;
        Ok(Response::new(v1::GetStatusResponse {
            chain_id: s.chain_id,
            height: s.height,
            latest_block_hash: s.latest_block_hash.0.to_vec(),
            state_root: s.state_root.0.to_vec(),
            latest_block_time: s.latest_block_time,
            node_version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }

    type StreamBlocksStream = ReceiverStream<Result<v1::Block, Status>>;

    async fn stream_blocks(
        &self,
        req: Request<v1::StreamBlocksRequest>,
    ) -> Res<Self::StreamBlocksStream> {
        let from = req.into_inner().from_height;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(follow(self.0.clone(), from, tx, |b: &CommittedBlock| {
            vec![b.block.clone()]
        }));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type StreamEventsStream = ReceiverStream<Result<v1::EventEnvelope, Status>>;

    async fn stream_events(
        &self,
        req: Request<v1::StreamEventsRequest>,
    ) -> Res<Self::StreamEventsStream> {
        let r = req.into_inner();
        let contract = if r.contract.is_empty() {
            None
        } else {
            Some(address("contract", &r.contract)?.0.to_vec())
        };
        let ty = (!r.r#type.is_empty()).then_some(r.r#type);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(follow(self.0.clone(), r.from_height, tx, move |b| {
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
        }));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Feeds a stream: committed blocks from `from` out of the store, then live ones from the
/// broadcast channel; if the subscriber lags behind the channel, it catches up from the store.
async fn follow<T: Send + 'static>(
    shared: Arc<Shared>,
    from: u64,
    tx: mpsc::Sender<Result<T, Status>>,
    map: impl Fn(&CommittedBlock) -> Vec<T> + Send + 'static,
) {
    let mut live = shared.blocks.subscribe();
    let mut shutdown = shared.shutdown.clone();
    let mut next = from;
    loop {
        // Catch up from the store.
        loop {
            let start = next;
            let chunk = match shared.blocking(move |l| l.blocks_from(start)).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            if chunk.is_empty() {
                break;
            }
            for b in &chunk {
                for item in map(b) {
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                }
                next = b.height().saturating_add(1);
            }
        }
        // Then live.
        loop {
            let b = tokio::select! {
                b = live.recv() => b,
                _ = shutdown.wait_for(|s| *s) => return,
                _ = tx.closed() => return,
            };
            match b {
                Ok(b) => {
                    let h = b.height();
                    if h < next {
                        continue;
                    }
                    if h > next {
                        break; // a gap: catch up from the store
                    }
                    for item in map(&b) {
                        if tx.send(Ok(item)).await.is_err() {
                            return;
                        }
                    }
                    next = h.saturating_add(1);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[tonic::async_trait]
impl contracts_server::Contracts for Api {
    async fn query(&self, req: Request<v1::QueryRequest>) -> Res<v1::QueryResponse> {
        let r = req.into_inner();
        let contract = address("contract", &r.contract)?;
        let (data, height) = self.0.blocking(move |l| l.query(contract, &r.msg)).await?;
        Ok(Response::new(v1::QueryResponse { data, height }))
    }

    async fn simulate(&self, req: Request<v1::SimulateRequest>) -> Res<v1::SimulateResponse> {
        let signed = req
            .into_inner()
            .tx
            .ok_or_else(|| status::bad_field("tx", "missing SignedTx"))?;
        let sim = self
            .0
            .blocking(move |l| l.simulate(signed, now_secs()))
            .await?;
        Ok(Response::new(v1::SimulateResponse {
            receipt: Some(sim.receipt),
            diff: sim.diff,
        }))
    }

    async fn get_account(
        &self,
        req: Request<v1::GetAccountRequest>,
    ) -> Res<v1::GetAccountResponse> {
        let a = address("address", &req.into_inner().address)?;
        let account = self.0.blocking(move |l| l.account(a)).await?;
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
            .0
            .blocking(move |l| l.contracts(start_after, limit))
            .await?;
        Ok(Response::new(v1::ListContractsResponse { contracts }))
    }

    async fn get_code(&self, req: Request<v1::GetCodeRequest>) -> Res<v1::GetCodeResponse> {
        let h = hash("code_hash", &req.into_inner().code_hash)?;
        let wasm = self.0.blocking(move |l| l.code(h)).await?;
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
        // Fast path: the last header already commits to the current state. Otherwise the
        // producer seals the state in an empty block and answers.
        let k = key.clone();
        let proof = match self.0.blocking(move |l| l.state_proof(&k)).await? {
            Some(p) => p,
            None => {
                let rx = self.0.request_proof(key.clone());
                tokio::time::timeout(self.0.config.request_timeout(), rx)
                    .await
                    .map_err(|_| status::no_seal_in_time())?
                    .map_err(|_| status::shutting_down())??
            }
        };
        Ok(Response::new(v1::GetStateProofResponse {
            key,
            value: proof.value,
            proof: proof.proof,
            header: Some(proof.header),
        }))
    }
}
