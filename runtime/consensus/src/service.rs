//! Incoming Raft traffic: the `hanok.v1.Raft` tonic service.

use crate::codec::{decode, encode};
use crate::network::GENESIS_METADATA;
use crate::store::lock;
use crate::{NodeId, TypeConfig};
use hanok_proto::v1::raft_server;
use hanok_proto::v1::{HelloReply, HelloRequest, RaftReply, RaftRequest};
use openraft::raft::InstallSnapshotRequest;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tonic::codegen::http::Extensions;
use tonic::{Request, Response, Status};

/// The node's check of a caller (e.g. that its TLS client certificate names a member): `Err`
/// with a reason refuses the call with `PERMISSION_DENIED`.
pub type Authorize = Arc<dyn Fn(&Extensions) -> Result<(), String> + Send + Sync>;

/// Serves Raft RPCs from peers into the local openraft node. Built by
/// [`crate::Consensus::service`].
pub struct RaftService {
    pub(crate) raft: openraft::Raft<TypeConfig>,
    pub(crate) genesis: [u8; 32],
    pub(crate) id: NodeId,
    pub(crate) name: String,
    pub(crate) authorize: Authorize,
    /// End of the snapshot bytes received so far: a chunk may restart at 0 or rewind, never
    /// jump ahead (openraft writes at the given offset into memory, so a jump would allocate
    /// whatever a peer asks).
    pub(crate) snapshot_end: Mutex<u64>,
}

impl RaftService {
    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        (self.authorize)(request.extensions()).map_err(|reason| {
            Status::permission_denied(format!("not a consortium member: {reason}"))
        })
    }

    /// Authorizes, then checks the genesis hash; only then is the payload looked at.
    fn admit(&self, request: Request<RaftRequest>) -> Result<RaftRequest, Status> {
        self.authorize(&request)?;
        let req = request.into_inner();
        if req.genesis_hash != self.genesis {
            let ours = hex::encode(self.genesis);
            let mut status = Status::failed_precondition(format!(
                "genesis hash mismatch: node {} sent Raft traffic for chain {}, but this node \
                 ({}, node {}) is on chain {ours}",
                req.from,
                hex::encode(&req.genesis_hash),
                self.name,
                self.id,
            ));
            if let Ok(v) = ours.parse() {
                status.metadata_mut().insert(GENESIS_METADATA, v);
            }
            return Err(status);
        }
        Ok(req)
    }
}

fn payload<T: serde::de::DeserializeOwned>(req: &RaftRequest) -> Result<T, Status> {
    decode(&req.payload)
        .map_err(|e| Status::invalid_argument(format!("malformed Raft payload: {e}")))
}

fn reply<T: Serialize>(result: &T) -> Result<Response<RaftReply>, Status> {
    let payload =
        encode(result).map_err(|e| Status::internal(format!("encoding the Raft reply: {e}")))?;
    Ok(Response::new(RaftReply { payload }))
}

#[tonic::async_trait]
impl raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let req = self.admit(request)?;
        let rpc = payload(&req)?;
        reply(&self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        let req = self.admit(request)?;
        let rpc = payload(&req)?;
        reply(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let req = self.admit(request)?;
        let rpc: InstallSnapshotRequest<TypeConfig> = payload(&req)?;
        {
            let mut end = lock(&self.snapshot_end);
            if rpc.offset == 0 {
                *end = 0;
            }
            if rpc.offset > *end {
                return Err(Status::invalid_argument(format!(
                    "snapshot chunk at offset {} skips past the {} bytes received",
                    rpc.offset, *end
                )));
            }
            *end = (*end).max(rpc.offset.saturating_add(rpc.data.len() as u64));
        }
        reply(&self.raft.install_snapshot(rpc).await)
    }

    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.authorize(&request)?;
        Ok(Response::new(HelloReply {
            id: self.id,
            name: self.name.clone(),
            genesis_hash: self.genesis.to_vec(),
        }))
    }
}
