//! Outgoing Raft traffic: one lazy tonic channel per peer, openraft messages as postcard.

use crate::codec::{decode, encode};
use crate::{Member, NodeId, TypeConfig};
use hanok_proto::v1::raft_client::RaftClient;
use hanok_proto::v1::RaftRequest;
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// Metadata key on a `FAILED_PRECONDITION` answer: the refusing node's genesis hash (hex).
pub(crate) const GENESIS_METADATA: &str = "hanok-genesis";

/// A plain message as an error, for openraft's error constructors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct WireError(pub String);

/// A status as an operator needs to read it: its code, its message and, for a status made on
/// this side from a broken connection, the chain of causes (a TLS alert such as `UnknownCA`
/// says more than "transport error").
pub(crate) fn status_text(status: &tonic::Status) -> String {
    let mut text = format!("{}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// How to reach peers.
#[derive(Clone)]
pub(crate) struct ChannelSettings {
    pub tls: Option<ClientTlsConfig>,
    pub connect_timeout: Duration,
    pub max_message_bytes: usize,
}

impl ChannelSettings {
    /// A lazy client for `addr` ("host:port"); connects on first use, reconnects after failures.
    pub(crate) fn client(&self, addr: &str) -> Result<RaftClient<Channel>, String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
            .map_err(|e| format!("bad peer address {addr:?}: {e}"))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| format!("TLS for {addr}: {e}"))?;
        }
        Ok(RaftClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes))
    }
}

/// Creates a [`PeerClient`] per target for openraft, reusing one channel per address (openraft
/// asks again whenever a replication stream restarts; tonic channels reconnect by themselves).
pub(crate) struct Network {
    pub settings: ChannelSettings,
    pub genesis: [u8; 32],
    pub from: NodeId,
    pub channels: HashMap<String, Result<RaftClient<Channel>, String>>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerClient {
        let settings = &self.settings;
        let client = self
            .channels
            .entry(node.addr.clone())
            .or_insert_with(|| settings.client(&node.addr))
            .clone();
        PeerClient {
            target,
            node: node.clone(),
            client,
            genesis: self.genesis,
            from: self.from,
        }
    }
}

/// The connection to one peer.
pub(crate) struct PeerClient {
    target: NodeId,
    node: Member,
    client: Result<RaftClient<Channel>, String>,
    genesis: [u8; 32],
    from: NodeId,
}

#[derive(Clone, Copy)]
enum Rpc {
    /// With the number of entries, to ask openraft for smaller batches when a message is too big.
    Append(u64),
    Vote,
    Snapshot,
}

impl PeerClient {
    fn status_error<E: std::error::Error>(
        &self,
        rpc: Rpc,
        status: &tonic::Status,
    ) -> RPCError<NodeId, Member, RaftError<NodeId, E>> {
        use tonic::Code;
        if let (Rpc::Append(n @ 2..), Code::ResourceExhausted | Code::OutOfRange) =
            (rpc, status.code())
        {
            tracing::warn!(peer = %self.node, entries = n, %status, "AppendEntries too large; halving the batch");
            return RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(n / 2));
        }
        match status.code() {
            Code::FailedPrecondition => {
                let theirs = status
                    .metadata()
                    .get(GENESIS_METADATA)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("unknown");
                tracing::error!(
                    peer = %self.node,
                    our_genesis = %hex::encode(self.genesis),
                    peer_genesis = %theirs,
                    message = %status.message(),
                    "peer refused our Raft traffic: it is on another chain (genesis hashes differ)"
                );
            }
            Code::PermissionDenied | Code::Unauthenticated => tracing::error!(
                peer = %self.node,
                message = %status.message(),
                "peer refused our Raft traffic: not authorized"
            ),
            _ => tracing::debug!(peer = %self.node, %status, "raft rpc failed"),
        }
        let err = WireError(format!("{}: {}", self.node, status_text(status)));
        match status.code() {
            // Retrying at once would not help: back off.
            Code::Unavailable
            | Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::Unimplemented => RPCError::Unreachable(Unreachable::new(&err)),
            _ => RPCError::Network(NetworkError::new(&err)),
        }
    }

    async fn send<Q, R, E>(
        &mut self,
        rpc: Rpc,
        req: &Q,
        timeout: Duration,
    ) -> Result<R, RPCError<NodeId, Member, RaftError<NodeId, E>>>
    where
        Q: Serialize,
        R: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let mut client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => {
                return Err(RPCError::Unreachable(Unreachable::new(&WireError(
                    e.clone(),
                ))))
            }
        };
        let payload = encode(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut request = tonic::Request::new(RaftRequest {
            genesis_hash: self.genesis.to_vec(),
            from: self.from,
            payload,
        });
        request.set_timeout(timeout);
        let reply = match rpc {
            Rpc::Append(_) => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::Snapshot => client.install_snapshot(request).await,
        };
        let reply = reply.map_err(|s| self.status_error(rpc, &s))?.into_inner();
        let result: Result<R, RaftError<NodeId, E>> =
            decode(&reply.payload).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        let entries = rpc.entries.len() as u64;
        self.send(Rpc::Append(entries), &rpc, option.hard_ttl())
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(Rpc::Snapshot, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.send(Rpc::Vote, &rpc, option.hard_ttl()).await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}
