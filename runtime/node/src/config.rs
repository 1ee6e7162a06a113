//! [`NodeConfig`]: everything an operator sets, loadable from TOML.

use crate::error::{Error, Result};
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
/// block_interval_ms = 200
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the block log, the state store and the module cache live.
    pub data_dir: PathBuf,
    /// gRPC listen address; port 0 picks a free port (see [`crate::NodeHandle::local_addr`]).
    pub listen: SocketAddr,
    /// The chain id; must equal the genesis chain id.
    pub chain_id: String,
    /// A block is produced at most this often (ms) when transactions are ready...
    pub block_interval_ms: u64,
    /// ...or as soon as this many transactions are ready.
    pub max_block_txs: usize,
    /// Most transactions the mempool holds, all accounts together.
    pub mempool_capacity: usize,
    /// Most transactions one account may have waiting (this also bounds its nonce gap).
    pub mempool_per_account: usize,
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
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: PathBuf::from("hanok-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            chain_id: crate::dev::DEV_CHAIN_ID.to_string(),
            block_interval_ms: 200,
            max_block_txs: 2_000,
            mempool_capacity: 20_000,
            mempool_per_account: 64,
            max_message_bytes: 4 * 1024 * 1024,
            max_tx_bytes: hanok_types::TxLimits::default().max_tx_bytes,
            request_timeout_ms: 10_000,
            max_concurrent_streams: 256,
            concurrency_per_connection: 256,
            query_gas_limit: 50_000_000,
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

    /// The block interval.
    pub fn block_interval(&self) -> Duration {
        Duration::from_millis(self.block_interval_ms.max(1))
    }

    /// The request deadline.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }
}
