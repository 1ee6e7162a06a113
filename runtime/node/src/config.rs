//! [`NodeConfig`]: everything an operator sets, loadable from TOML. Plain data; the only thing
//! it does is load the genesis and key files it names ([`NodeConfig::node_genesis`]).

use crate::error::{Error, Result};
use hanok_ledger::{LedgerConfig, NodeGenesis};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The node's configuration. Every field has a default, so a TOML file only names what it
/// changes (`data_dir` is the one field without a sensible default).
///
/// ```toml
/// data_dir = "/var/lib/hanok"
/// listen = "127.0.0.1:50051"
/// chain_id = "hanok-dev-1"
/// block_interval_ms = 5
/// # A real chain (not the dev genesis): see `crate::genesis_file`.
/// genesis = "/etc/hanok/genesis.json"
/// proposer_key = "/etc/hanok/proposer.key"
/// ```
///
/// Relative paths (`data_dir`, `genesis`, `proposer_key`) are relative to the node's working
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the block log, the state store and the module cache live.
    pub data_dir: PathBuf,
    /// gRPC listen address; port 0 picks a free port (see [`crate::NodeHandle::local_addr`]).
    pub listen: SocketAddr,
    /// The chain id; must equal the genesis chain id.
    pub chain_id: String,
    /// Least time between the starts of two blocks (ms). A block starts as soon as a
    /// transaction is ready and this long has passed since the previous one started: under
    /// light load a transaction waits at most this long; under heavy load each block takes
    /// everything that arrived while the previous one was produced.
    pub block_interval_ms: u64,
    /// Most transactions in one block.
    pub max_block_txs: usize,
    /// Most transactions the mempool holds, all accounts together.
    pub mempool_capacity: usize,
    /// Most transactions one account may have waiting (this also bounds its nonce gap).
    pub mempool_per_account: usize,
    /// Most bytes of one account's transactions in one block; its first one always fits, the
    /// rest waits for the next block, so one key cannot fill a block with large transactions.
    pub max_block_bytes_per_account: usize,
    /// Largest gRPC message decoded or encoded, bytes.
    pub max_message_bytes: usize,
    /// Largest encoded transaction accepted, bytes (the chain's `TxLimits::max_tx_bytes`).
    pub max_tx_bytes: usize,
    /// Deadline of every request (ms); `SubmitAndWait` waits at most this long.
    pub request_timeout_ms: u64,
    /// Most concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Most requests handled at once per connection.
    pub concurrency_per_connection: usize,
    /// Gas available to one `Contracts.Query` and to an unsigned `Simulate`.
    pub query_gas_limit: u64,
    /// Most client connections open at once. At start the node raises its descriptor limit
    /// (`RLIMIT_NOFILE`) to the hard limit and lowers this cap if needed, so that the
    /// descriptors storage needs stay free however many clients connect; a connection over the
    /// cap is closed at once.
    pub max_connections: usize,
    /// Time a new connection has to complete its TLS handshake, and in plaintext to send the
    /// HTTP/2 preface (ms); one that does not is closed.
    pub handshake_timeout_ms: u64,
    /// How often the node pings an idle HTTP/2 connection (ms).
    pub keepalive_interval_ms: u64,
    /// A connection that does not answer a ping within this is closed (ms).
    pub keepalive_timeout_ms: u64,
    /// Most streams (`StreamBlocks`, `StreamEvents`, `SubmitStream`) open at once, all clients
    /// together.
    pub max_subscriptions: usize,
    /// Most of those streams open at once on one connection.
    pub max_subscriptions_per_connection: usize,
    /// A stream (`StreamBlocks`, `StreamEvents`, `SubmitStream`) whose client takes no message
    /// for this long is dropped with `RESOURCE_EXHAUSTED` (ms); if the client does not read that
    /// either within as long again, its connection is closed. A subscriber waiting at the
    /// chain's tip, or a submit stream with nothing to answer yet, is never dropped.
    pub subscription_stall_timeout_ms: u64,
    /// Most transactions one `SubmitStream` has read and not yet answered (in their signature
    /// check, waiting for room in the mempool, or admitted and not yet committed); at this many
    /// the node reads no further request of that stream until one is answered.
    pub submit_stream_window: usize,
    /// On SIGTERM/SIGINT: how long calls in flight may take to finish before their
    /// connections are closed (ms).
    pub shutdown_grace_ms: u64,
    /// Serve Prometheus metrics over plain HTTP at `http://<this>/metrics` (e.g.
    /// `127.0.0.1:9184`); unset: no metrics endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SocketAddr>,
    /// The genesis file (JSON, see [`crate::genesis_file`]); unset for the dev genesis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genesis: Option<PathBuf>,
    /// This node's TLS certificate chain (PEM). With `tls_key`, the node serves gRPC over TLS
    /// only (`https://`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// The CA whose certificates clients must present (mutual TLS); needs `tls_cert`. The
    /// organisation in a client's certificate is logged with each of its requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// Allow listening on a non-loopback address without TLS (refused otherwise: anyone on the
    /// network could read every balance).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// A file holding this node's secret key as 64 hex digits (what `hanok keys new --out`
    /// writes); it signs blocks, so its public key must be one of the genesis `proposers`. On
    /// unix the file must not be accessible by group or others (`chmod 600`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposer_key: Option<PathBuf>,
    /// Membership of a consortium whose blocks are ordered by Raft; unset: a single node that
    /// orders its own blocks. Needs mutual TLS (`tls_cert`, `tls_key`, `client_ca`: the
    /// consortium's CA), a genesis file and `proposer_key` (this member's node key, one of the
    /// genesis `proposers`). See docs/consortium.md.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consortium: Option<ConsortiumConfig>,
}

/// The `[consortium]` section of a node's config.
///
/// ```toml
/// [consortium]
/// id = 1
/// [[consortium.members]]
/// id = 1
/// name = "registry"
/// addr = "10.0.0.1:7100"
/// [[consortium.members]]
/// id = 2
/// name = "bank-a"
/// addr = "10.0.1.1:7100"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsortiumConfig {
    /// This node's member id.
    pub id: u64,
    /// Every member, this node included: the voters a new consortium starts with. The name is
    /// the organisation (the `O` of the member's certificate, checked on every Raft message);
    /// the address is where its gRPC port is reached.
    pub members: Vec<ConsortiumMember>,
    /// How often the leader sends heartbeats (ms).
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// A follower that hears no leader for this long (randomised up to twice as long) starts an
    /// election (ms).
    #[serde(default = "default_election_timeout_ms")]
    pub election_timeout_ms: u64,
    /// A snapshot is built after this many Raft log entries since the last one.
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every: u64,
    /// Raft log entries kept after a snapshot for followers that lag a little (older ones are
    /// purged; a follower further behind installs the snapshot).
    #[serde(default = "default_keep_logs")]
    pub keep_logs: u64,
    /// This node joins a running consortium: it was added after genesis (by the authority's
    /// `add_member` transaction, see `hanok consortium add-member`), its node key is not a
    /// genesis proposer, and it waits for the leader to replicate to it instead of starting a
    /// new cluster with `members`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub join: bool,
}

/// One member of a consortium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsortiumMember {
    /// Its id (unique, not 0).
    pub id: u64,
    /// The organisation running it, e.g. `bank-a`.
    pub name: String,
    /// `host:port` of its gRPC server.
    pub addr: String,
}

fn default_heartbeat_ms() -> u64 {
    100
}
fn default_election_timeout_ms() -> u64 {
    500
}
fn default_snapshot_every() -> u64 {
    5_000
}
fn default_keep_logs() -> u64 {
    1_000
}

impl ConsortiumConfig {
    /// This node's own entry.
    pub fn me(&self) -> Option<&ConsortiumMember> {
        self.members.iter().find(|m| m.id == self.id)
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: PathBuf::from("hanok-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            chain_id: hanok_ledger::dev::DEV_CHAIN_ID.to_string(),
            block_interval_ms: 5,
            max_block_txs: 2_000,
            mempool_capacity: 20_000,
            mempool_per_account: 64,
            max_block_bytes_per_account: 1024 * 1024,
            max_message_bytes: 4 * 1024 * 1024,
            max_tx_bytes: hanok_types::TxLimits::default().max_tx_bytes,
            request_timeout_ms: 10_000,
            max_concurrent_streams: 256,
            concurrency_per_connection: 256,
            query_gas_limit: 50_000_000,
            max_connections: 1024,
            handshake_timeout_ms: 10_000,
            keepalive_interval_ms: 30_000,
            keepalive_timeout_ms: 10_000,
            max_subscriptions: 256,
            max_subscriptions_per_connection: 16,
            subscription_stall_timeout_ms: 30_000,
            submit_stream_window: 1024,
            shutdown_grace_ms: 5_000,
            metrics: None,
            genesis: None,
            proposer_key: None,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            insecure: false,
            consortium: None,
        }
    }
}

impl NodeConfig {
    /// The defaults with `data_dir`, listening on `127.0.0.1:50051`, chain `hanok-dev-1`.
    pub fn dev(data_dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig {
            data_dir: data_dir.into(),
            ..NodeConfig::default()
        }
    }

    /// Parses a TOML document.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad field.
    pub fn from_toml(text: &str) -> Result<NodeConfig> {
        toml::from_str(text).map_err(|e| Error::Config {
            path: PathBuf::from("<toml>"),
            reason: e.to_string(),
        })
    }

    /// Reads and parses a TOML file.
    ///
    /// # Errors
    /// [`Error::Config`] if the file cannot be read or parsed.
    pub fn load(path: impl AsRef<Path>) -> Result<NodeConfig> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The configuration as TOML (e.g. for `hanok node --print-config`).
    ///
    /// # Errors
    /// [`Error::Config`] if serialisation fails (it does not for this type).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config {
            path: PathBuf::from("<toml>"),
            reason: e.to_string(),
        })
    }

    /// Loads the genesis file and the proposer key this configuration names (both must be set).
    ///
    /// # Errors
    /// [`Error::Config`] if either is unset or `chain_id` is not the genesis chain id;
    /// [`Error::Ledger`] with `LedgerError::Key` (see [`hanok_ledger::read_secret_key`]) or
    /// `LedgerError::Genesis` naming the wrong field of the genesis file.
    pub fn node_genesis(&self) -> Result<NodeGenesis> {
        let unset = |field: &str, what: &str| Error::Config {
            path: PathBuf::from("<config>"),
            reason: format!(
                "`{field}` is not set: a node without the dev genesis needs {what} (or run with \
                 the dev genesis, `hanok node --dev`)"
            ),
        };
        let genesis = self
            .genesis
            .as_deref()
            .ok_or_else(|| unset("genesis", "a genesis file"))?;
        let key = self
            .proposer_key
            .as_deref()
            .ok_or_else(|| unset("proposer_key", "the file of the key it signs blocks with"))?;
        let proposer = hanok_ledger::read_secret_key(key)?;
        let joining = self.consortium.as_ref().is_some_and(|c| c.join);
        let genesis = if joining {
            hanok_ledger::genesis_file::load_joining_node_genesis(genesis, proposer)?
        } else {
            hanok_ledger::genesis_file::load_node_genesis(genesis, proposer)?
        };
        if genesis.genesis.chain_id != self.chain_id {
            return Err(Error::Config {
                path: PathBuf::from("<config>"),
                reason: format!(
                    "`chain_id` is `{}` but the genesis file's is `{}`: set \
                     chain_id = \"{}\" in the config",
                    self.chain_id, genesis.genesis.chain_id, genesis.genesis.chain_id
                ),
            });
        }
        Ok(genesis)
    }

    /// The server's TLS settings, `None` for plaintext.
    ///
    /// # Errors
    /// [`Error::Config`] when only one of `tls_cert` and `tls_key` is set, or `client_ca`
    /// without them, or a non-loopback `listen` without TLS and without `insecure`;
    /// [`Error::Tls`] naming a file that cannot be read.
    pub fn server_tls(&self) -> Result<Option<tonic::transport::ServerTlsConfig>> {
        let bad = |reason: String| Error::Config {
            path: PathBuf::from("<config>"),
            reason,
        };
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => crate::tls::server_config(
                cert,
                key,
                self.client_ca.as_deref(),
                self.handshake_timeout(),
            )
            .map(Some),
            (Some(_), None) => Err(bad(
                "`tls_cert` is set without `tls_key` (--tls-key FILE)".into()
            )),
            (None, Some(_)) => Err(bad(
                "`tls_key` is set without `tls_cert` (--tls-cert FILE)".into()
            )),
            (None, None) if self.client_ca.is_some() => Err(bad(
                "`client_ca` needs TLS: set `tls_cert` and `tls_key` too (--tls-cert, --tls-key)"
                    .into(),
            )),
            (None, None) if !self.listen.ip().is_loopback() && !self.insecure => Err(bad(format!(
                "refusing to serve plaintext gRPC on {}, a non-loopback address: anyone on the \
                 network could read every account; give --tls-cert and --tls-key (and \
                 --client-ca for mutual TLS), or --insecure to accept the risk",
                self.listen
            ))),
            (None, None) => Ok(None),
        }
    }

    /// The part of this configuration the ledger core uses.
    pub fn ledger(&self) -> LedgerConfig {
        LedgerConfig {
            data_dir: self.data_dir.clone(),
            max_block_txs: self.max_block_txs,
            mempool_capacity: self.mempool_capacity,
            mempool_per_account: self.mempool_per_account,
            max_block_bytes_per_account: self.max_block_bytes_per_account,
            max_tx_bytes: self.max_tx_bytes,
            query_gas_limit: self.query_gas_limit,
        }
    }

    /// The block interval.
    pub fn block_interval(&self) -> Duration {
        Duration::from_millis(self.block_interval_ms.max(1))
    }

    /// The request deadline.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }

    /// The connection handshake deadline.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms.max(1))
    }

    /// The HTTP/2 keepalive ping interval.
    pub fn keepalive_interval(&self) -> Duration {
        Duration::from_millis(self.keepalive_interval_ms.max(1))
    }

    /// The HTTP/2 keepalive ping timeout.
    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(self.keepalive_timeout_ms.max(1))
    }

    /// How long a subscriber may take no message before it is dropped.
    pub fn subscription_stall_timeout(&self) -> Duration {
        Duration::from_millis(self.subscription_stall_timeout_ms.max(1))
    }

    /// The `SubmitStream` window, at least 1.
    pub fn submit_stream_window(&self) -> usize {
        self.submit_stream_window.max(1)
    }

    /// How long calls in flight get to finish at shutdown.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_with_and_without_genesis() {
        let plain = NodeConfig::dev("d");
        let text = plain.to_toml().expect("serialises");
        assert!(!text.contains("genesis"), "{text}");
        assert_eq!(NodeConfig::from_toml(&text).expect("parses"), plain);

        let real = NodeConfig {
            genesis: Some(PathBuf::from("/etc/hanok/genesis.json")),
            proposer_key: Some(PathBuf::from("keys/proposer.key")),
            ..NodeConfig::dev("d")
        };
        let text = real.to_toml().expect("serialises");
        assert_eq!(NodeConfig::from_toml(&text).expect("parses"), real);
        let parsed =
            NodeConfig::from_toml("genesis = \"g.json\"\nproposer_key = \"k\"\n").expect("parses");
        assert_eq!(parsed.genesis.as_deref(), Some(Path::new("g.json")));
        assert_eq!(parsed.data_dir, NodeConfig::default().data_dir);
    }

    #[test]
    fn node_genesis_needs_both_fields() {
        let e = NodeConfig::dev("d")
            .node_genesis()
            .expect_err("no genesis set");
        assert!(e.to_string().contains("`genesis` is not set"), "{e}");
        let c = NodeConfig {
            genesis: Some(PathBuf::from("g.json")),
            ..NodeConfig::dev("d")
        };
        let e = c.node_genesis().expect_err("no key set");
        assert!(e.to_string().contains("`proposer_key` is not set"), "{e}");
    }
}
