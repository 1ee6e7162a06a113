//! The gRPC services (Ledger, Contracts, Proofs, health, reflection) and the server with its
//! explicit limits.

use crate::node::{CommittedBlock, Shared};
use crate::status;
use hanok_chain::{execute_block, header_hash, Chain, Receipt, TxStatus};
use hanok_proto::v1::{self, contracts_server, ledger_server, proofs_server};
use hanok_types::{tx_hash, Address, CheckedTx, Hash, TxError};
use hanok_vm::state::keys;
use hanok_vm::{BlockEnv, CodeHash, ContractInfo, Effects, WriteSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

type Res<T> = Result<Response<T>, Status>;

/// Most blocks a stream replays from the store per blocking read.
const REPLAY_CHUNK: u64 = 64;

/// Spawns the tonic server on `listener` and returns its task.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Result<(), tonic::transport::Error>> {
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
    let router = tonic::transport::Server::builder()
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
    tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
    })
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

fn chain_err(e: hanok_chain::ChainError) -> Status {
    status::chain(&e)
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
    /// Stateless checks on the signature-check pool (one thread per core, niced; see `verify`),
    /// then the stateful ones against committed state, then the mempool. Returns the checked hash.
    async fn admit(
        &self,
        signed: Option<v1::SignedTx>,
        wait: bool,
    ) -> Result<(Hash, Option<oneshot::Receiver<Result<v1::Receipt, Status>>>), Status> {
        let s = &self.0;
        if let Some(reason) = s.halted() {
            return Err(status::halted(&reason));
        }
        let signed = signed.ok_or_else(|| status::bad_field("tx", "missing SignedTx"))?;
        let (tx, rx) = oneshot::channel();
        let (chain_id, limits) = (s.chain_id.clone(), s.limits.clone());
        crate::verify::spawn(move || {
            let _ = tx.send(CheckedTx::check_signed(signed, &chain_id, &limits));
        });
        let checked = rx
            .await
            .map_err(|e| status::task(&e))?
            .map_err(|e| status::tx_error(&e))?;
        let hash = checked.hash();
        let admission = s.admission.clone();
        // The stateful checks wait for the chain's read lock, which a block commit holds for a
        // while: on the blocking pool, so signature checks go on meanwhile.
        let (checked, chain_next) = s
            .read_blocking(move |c| {
                if let Some((height, _)) = c.tx_location(&hash).map_err(chain_err)? {
                    return Err(status::already_committed(&hash, height));
                }
                let sender = checked.sender();
                let enrolled = admission
                    .is_enrolled(c.backend().as_ref(), &sender)
                    .map_err(|e| status::chain(&e.into()))?;
                if !enrolled {
                    return Err(status::tx_error(&TxError::NotEnrolled { sender }));
                }
                let next_height = c.height().saturating_add(1);
                if checked.expiry_height() < next_height {
                    return Err(status::tx_error(&TxError::Expired {
                        expiry_height: checked.expiry_height(),
                        height: next_height,
                    }));
                }
                let next = c.next_nonce(&sender).map_err(chain_err)?;
                Ok((checked, next))
            })
            .await?;
        // Register before inserting, or the block could commit before anyone listens.
        let waiter = wait.then(|| s.add_waiter(hash));
        {
            let mut pool = s.mempool.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = pool.insert(checked, chain_next) {
                drop(pool);
                if wait {
                    s.drop_waiters(&hash);
                }
                return Err(status::mempool(&e));
            }
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
        let waiter = waiter.ok_or_else(|| Status::internal("no waiter registered"))?;
        let remaining = wait.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, waiter).await {
            Ok(Ok(Ok(receipt))) => Ok(Response::new(v1::SubmitAndWaitResponse {
                tx_hash: hash.0.to_vec(),
                receipt: Some(receipt),
            })),
            Ok(Ok(Err(status))) => Err(status),
            Ok(Err(_)) => Err(Status::unavailable(
                "the node stopped before the transaction committed; poll GetReceipt",
            )),
            Err(_) => Err(status::wait_deadline(&hash, wait)),
        }
    }

    async fn get_transaction(
        &self,
        req: Request<v1::GetTransactionRequest>,
    ) -> Res<v1::GetTransactionResponse> {
        let h = hash("tx_hash", &req.into_inner().tx_hash)?;
        let r = self
            .0
            .read_blocking(move |c| {
                let (height, index) = c
                    .tx_location(&h)
                    .map_err(chain_err)?
                    .ok_or_else(|| status::not_found(format!("no committed transaction {h}")))?;
                let block = c
                    .block(height)
                    .map_err(chain_err)?
                    .ok_or_else(|| status::not_found(format!("block {height} missing")))?;
                let tx = block.txs.get(index as usize).cloned();
                Ok(v1::GetTransactionResponse { tx, height, index })
            })
            .await?;
        Ok(Response::new(r))
    }

    async fn get_receipt(
        &self,
        req: Request<v1::GetReceiptRequest>,
    ) -> Res<v1::GetReceiptResponse> {
        let h = hash("tx_hash", &req.into_inner().tx_hash)?;
        let pending = self
            .0
            .mempool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&h);
        let receipt = self
            .0
            .read_blocking(move |c| c.receipt(&h).map_err(chain_err))
            .await?;
        match receipt {
            Some(r) => Ok(Response::new(v1::GetReceiptResponse { receipt: Some(r) })),
            None if pending => Err(status::not_found(format!(
                "transaction {h} is in the mempool and not committed yet; retry after the next block"
            ))),
            None => Err(status::not_found(format!("no committed transaction {h}"))),
        }
    }

    async fn get_block(&self, req: Request<v1::GetBlockRequest>) -> Res<v1::GetBlockResponse> {
        let r = req.into_inner();
        let by_hash = match (r.height, r.hash.is_empty()) {
            (Some(_), false) => {
                return Err(status::bad_field(
                    "hash",
                    "set either height or hash, not both",
                ))
            }
            (_, true) => None,
            (None, false) => Some(Hash(r.hash.as_slice().try_into().map_err(|_| {
                status::bad_field(
                    "hash",
                    &format!("a block hash is 32 bytes, got {}", r.hash.len()),
                )
            })?)),
        };
        let height = r.height;
        let r = self
            .0
            .read_blocking(move |c| {
                let block = match by_hash {
                    Some(hash) => c
                        .block_by_hash(&hash)
                        .map_err(chain_err)?
                        .map(|(_, b)| b)
                        .ok_or_else(|| status::not_found(format!("no committed block {hash}")))?,
                    None => {
                        let h = height.unwrap_or_else(|| c.height());
                        c.block(h).map_err(chain_err)?.ok_or_else(|| {
                            status::not_found(format!(
                                "no block {h}; the chain is at height {}",
                                c.height()
                            ))
                        })?
                    }
                };
                let hash = header_hash(&block.header.clone().unwrap_or_default());
                Ok(v1::GetBlockResponse {
                    block: Some(block),
                    hash: hash.0.to_vec(),
                })
            })
            .await?;
        Ok(Response::new(r))
    }

    async fn get_status(&self, _: Request<v1::GetStatusRequest>) -> Res<v1::GetStatusResponse> {
        let r = self
            .0
            .read_blocking(|c| {
                Ok(v1::GetStatusResponse {
                    chain_id: c.chain_id().to_string(),
                    height: c.height(),
                    latest_block_hash: c.last_hash().0.to_vec(),
                    state_root: c.state_root().0.to_vec(),
                    latest_block_time: c.last_header().time,
                    node_version: env!("CARGO_PKG_VERSION").to_string(),
                })
            })
            .await?;
        Ok(Response::new(r))
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
            let height = b.block.header.as_ref().map_or(0, |h| h.height);
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

/// Reads committed blocks `from..=to` with their receipts from the store.
fn replay(c: &Chain, from: u64, to: u64) -> Result<Vec<CommittedBlock>, Status> {
    let mut out = Vec::new();
    for h in from..=to {
        let Some(block) = c.block(h).map_err(chain_err)? else {
            break;
        };
        let mut receipts = Vec::with_capacity(block.txs.len());
        for t in &block.txs {
            let th = tx_hash(&t.body, &t.signature);
            if let Some(r) = c.receipt(&th).map_err(chain_err)? {
                receipts.push(r);
            }
        }
        out.push(CommittedBlock { block, receipts });
    }
    Ok(out)
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
            let chunk = shared
                .read_blocking(move |c| {
                    let top = c.height();
                    if start > top {
                        return Ok(Vec::new());
                    }
                    replay(c, start, top.min(start.saturating_add(REPLAY_CHUNK - 1)))
                })
                .await;
            let chunk = match chunk {
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
                next = b
                    .block
                    .header
                    .as_ref()
                    .map_or(next, |h| h.height.saturating_add(1));
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
                    let h = b.block.header.as_ref().map_or(0, |h| h.height);
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

fn to_v1_call(i: usize, call: &v1::Call) -> Result<hanok_types::Call, Status> {
    let bad = |r: &str| {
        status::tx_error(&TxError::BadCall {
            index: i,
            reason: r.to_string(),
        })
    };
    match &call.kind {
        None => Err(bad("no call kind set (execute, instantiate or upload)")),
        Some(v1::call::Kind::Execute(e)) => Ok(hanok_types::Call::Execute {
            contract: Address::from_slice(&e.contract)
                .ok_or_else(|| bad("execute.contract must be 20 bytes"))?,
            msg: e.msg.clone(),
        }),
        Some(v1::call::Kind::Instantiate(c)) => Ok(hanok_types::Call::Instantiate {
            code_hash: Hash::from_slice(&c.code_hash)
                .ok_or_else(|| bad("instantiate.code_hash must be 32 bytes"))?,
            label: c.label.clone(),
            admin: match &c.admin {
                None => None,
                Some(a) => Some(
                    Address::from_slice(a)
                        .ok_or_else(|| bad("instantiate.admin must be 20 bytes"))?,
                ),
            },
            msg: c.msg.clone(),
        }),
        Some(v1::call::Kind::Upload(u)) => Ok(hanok_types::Call::Upload {
            wasm: u.wasm.clone(),
        }),
    }
}

/// A dry run: the receipt it would get in the next block and its state writes.
pub(crate) struct Simulation {
    pub receipt: v1::Receipt,
    pub writes: WriteSet,
}

fn next_env(c: &Chain) -> BlockEnv {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    BlockEnv {
        height: c.height().saturating_add(1),
        time: now.max(c.last_header().time),
        chain_id: c.chain_id().to_string(),
    }
}

/// Signed: exactly what the next block would do with this one transaction (stateful checks
/// included). Unsigned (empty signature): runs the body's calls as its `sender`, skipping
/// signature, nonce and enrolment checks. Nothing is committed either way.
fn simulate(
    c: &Chain,
    signed: v1::SignedTx,
    limits: &hanok_types::TxLimits,
) -> Result<Simulation, Status> {
    let env = next_env(c);
    if !signed.signature.is_empty() {
        let tx = CheckedTx::check_signed(signed, c.chain_id(), limits)
            .map_err(|e| status::tx_error(&e))?;
        let out = execute_block(c.vm(), c.backend(), &env, &[tx], &c.config().rules)
            .map_err(chain_err)?;
        let receipt = out
            .receipts
            .first()
            .map(Receipt::to_proto)
            .unwrap_or_default();
        return Ok(Simulation {
            receipt,
            writes: out.writes,
        });
    }
    use prost::Message;
    let body = v1::TxBody::decode(signed.body.as_slice())
        .map_err(|e| status::tx_error(&TxError::MalformedBody(e.to_string())))?;
    let sender = address("tx.body.sender", &body.sender)?;
    let calls = body
        .calls
        .iter()
        .enumerate()
        .map(|(i, call)| to_v1_call(i, call))
        .collect::<Result<Vec<_>, _>>()?;
    let gas = if body.gas_limit == 0 {
        limits.max_gas
    } else {
        body.gas_limit.min(limits.max_gas)
    };
    let mut session = c.vm().session(c.backend(), env.clone(), sender, gas);
    let mut receipt = Receipt {
        tx_hash: Hash::sha256(&signed.body),
        height: env.height,
        index: 0,
        status: TxStatus::Ok,
        gas_used: 0,
        events: Vec::new(),
        error: None,
        failed_call: None,
        results: Vec::new(),
        rejection: None,
    };
    for (i, call) in calls.iter().enumerate() {
        let r = match call {
            hanok_types::Call::Execute { contract, msg } => {
                session.execute(*contract, msg).map(|o| o.data)
            }
            hanok_types::Call::Instantiate {
                code_hash,
                label,
                admin,
                msg,
            } => session
                .instantiate(CodeHash(code_hash.0), label, *admin, msg)
                .map(|(a, _)| a.0.to_vec()),
            hanok_types::Call::Upload { wasm } => session.upload(wasm).map(|h| h.0.to_vec()),
        };
        match r {
            Ok(data) => receipt.results.push(data),
            Err(hanok_vm::CallError::Storage(e)) => return Err(status::chain(&e.into())),
            Err(e) => {
                receipt.status = match e {
                    hanok_vm::CallError::Contract { .. } => TxStatus::ContractError,
                    _ => TxStatus::VmError,
                };
                receipt.error = Some(e.to_string());
                receipt.failed_call = u32::try_from(i).ok();
                receipt.results.clear();
                receipt.gas_used = gas;
                return Ok(Simulation {
                    receipt: receipt.to_proto(),
                    writes: WriteSet::new(),
                });
            }
        }
    }
    let Effects {
        writes,
        events,
        gas_used,
    } = session.finish();
    receipt.gas_used = gas_used;
    receipt.events = events;
    Ok(Simulation {
        receipt: receipt.to_proto(),
        writes,
    })
}

/// The identity contract's answer to `{"roles": {"address": ..}}`.
#[derive(Debug, Default, serde::Deserialize)]
struct RolesAnswer {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    enrolled: bool,
}

/// The state diff of a simulation, in key order; contract-storage keys are split into the
/// contract address and the key inside its storage.
pub fn state_diff(writes: &WriteSet) -> Vec<v1::StateWrite> {
    writes
        .iter()
        .map(|(k, v)| {
            let (contract, contract_key) = match hanok_vm::layout::split_storage_key(k) {
                Some((contract, key)) => (contract.0.to_vec(), key.to_vec()),
                None => (Vec::new(), Vec::new()),
            };
            v1::StateWrite {
                key: k.clone(),
                value: v.clone(),
                contract,
                contract_key,
            }
        })
        .collect()
}

#[tonic::async_trait]
impl contracts_server::Contracts for Api {
    async fn query(&self, req: Request<v1::QueryRequest>) -> Res<v1::QueryResponse> {
        let r = req.into_inner();
        let contract = address("contract", &r.contract)?;
        let gas = self.0.config.query_gas_limit;
        let resp = self
            .0
            .read_blocking(move |c| {
                let data = c
                    .query(contract, &r.msg, gas)
                    .map_err(|e| status::call(&e, &contract, gas))?;
                Ok(v1::QueryResponse {
                    data,
                    height: c.height(),
                })
            })
            .await?;
        Ok(Response::new(resp))
    }

    async fn simulate(&self, req: Request<v1::SimulateRequest>) -> Res<v1::SimulateResponse> {
        let signed = req
            .into_inner()
            .tx
            .ok_or_else(|| status::bad_field("tx", "missing SignedTx"))?;
        let limits = self.0.limits.clone();
        let sim = self
            .0
            .read_blocking(move |c| simulate(c, signed, &limits))
            .await?;
        Ok(Response::new(v1::SimulateResponse {
            receipt: Some(sim.receipt),
            diff: state_diff(&sim.writes),
        }))
    }

    async fn get_account(
        &self,
        req: Request<v1::GetAccountRequest>,
    ) -> Res<v1::GetAccountResponse> {
        let a = address("address", &req.into_inner().address)?;
        let identity = self.0.identity;
        let gas = self.0.config.query_gas_limit;
        let (next_nonce, roles) = self
            .0
            .read_blocking(move |c| {
                let nonce = c.next_nonce(&a).map_err(chain_err)?;
                let roles = match identity {
                    None => None,
                    Some(id) => {
                        let msg = serde_json::json!({"roles": {"address": a}}).to_string();
                        let data = c
                            .query(id, msg.as_bytes(), gas)
                            .map_err(|e| status::call(&e, &id, gas))?;
                        let v: RolesAnswer = serde_json::from_slice(&data).map_err(|e| {
                            Status::internal(format!(
                                "the identity contract {id} answered a roles query with \
                                 unexpected JSON: {e}"
                            ))
                        })?;
                        Some(v)
                    }
                };
                Ok((nonce, roles))
            })
            .await?;
        let did = self
            .0
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&a)
            .map(|k| k.did())
            .unwrap_or_default();
        let roles = roles.unwrap_or_default();
        Ok(Response::new(v1::GetAccountResponse {
            address: a.0.to_vec(),
            next_nonce,
            did,
            roles: roles.roles,
            enrolled: roles.enrolled,
        }))
    }

    async fn list_contracts(
        &self,
        req: Request<v1::ListContractsRequest>,
    ) -> Res<v1::ListContractsResponse> {
        let r = req.into_inner();
        let limit = match r.limit {
            0 => 100,
            n => n.min(1000) as usize,
        };
        let start = if r.start_after.is_empty() {
            vec![keys::CONTRACT_INFO]
        } else {
            let after = address("start_after", &r.start_after)?;
            let mut k = keys::info(&after);
            k.push(0);
            k
        };
        let contracts = self
            .0
            .read_blocking(move |c| {
                let end = [keys::CONTRACT_INFO.saturating_add(1)];
                let rows = c
                    .backend()
                    .scan(&start, Some(&end), limit)
                    .map_err(|e| status::chain(&e.into()))?;
                rows.into_iter()
                    .map(|(k, v)| {
                        let info = ContractInfo::decode(&v).map_err(|e| {
                            Status::data_loss(format!("contract info does not decode: {e}"))
                        })?;
                        Ok(v1::ContractInfo {
                            address: k.get(1..).unwrap_or_default().to_vec(),
                            code_hash: info.code_hash.0.to_vec(),
                            creator: info.creator.0.to_vec(),
                            label: info.label,
                            admin: info.admin.map(|a| a.0.to_vec()),
                        })
                    })
                    .collect::<Result<Vec<_>, Status>>()
            })
            .await?;
        Ok(Response::new(v1::ListContractsResponse { contracts }))
    }

    async fn get_code(&self, req: Request<v1::GetCodeRequest>) -> Res<v1::GetCodeResponse> {
        let h = hash("code_hash", &req.into_inner().code_hash)?;
        let wasm = self
            .0
            .read_blocking(move |c| {
                c.backend()
                    .get(&keys::code(&h.0))
                    .map_err(|e| status::chain(&e.into()))?
                    .ok_or_else(|| status::not_found(format!("no code with hash {h}")))
            })
            .await?;
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
            (true, false) => keys::storage(&address("contract", &r.contract)?, &r.contract_key),
            _ => {
                return Err(status::bad_field(
                    "key",
                    "set either key (a raw state key) or contract + contract_key, not both",
                ))
            }
        };
        // Fast path: the last header already commits to the current state.
        let k = key.clone();
        let fast = self
            .0
            .read_blocking(move |c| {
                if c.last_header().state_root != c.state_root().0 {
                    return Ok(None);
                }
                let (value, proof) = c.get_with_proof(&k).map_err(chain_err)?;
                Ok(Some((value, proof.to_bytes(), c.last_header().clone())))
            })
            .await?;
        let (value, proof, header) = match fast {
            Some(t) => t,
            None => {
                let rx = self.0.request_proof(key.clone());
                let a = tokio::time::timeout(self.0.config.request_timeout(), rx)
                    .await
                    .map_err(|_| {
                        Status::deadline_exceeded("no block sealed the state in time; retry")
                    })?
                    .map_err(|_| Status::unavailable("the node is shutting down"))??;
                (a.value, a.proof, a.header)
            }
        };
        Ok(Response::new(v1::GetStateProofResponse {
            key,
            value,
            proof,
            header: Some(header),
        }))
    }
}
