//! [`Tls`]: what a client presents to reach a node over `https://` — the CA that issued the
//! node's certificate and, for mutual TLS, its own certificate and key — and [`channel`], the one
//! way every client of this workspace opens a connection.

use crate::error::{ClientError, Result};
use std::path::Path;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// TLS material for an `https://` endpoint.
///
/// ```no_run
/// # async fn demo() -> hanok_client::Result<()> {
/// use hanok_client::{Client, Tls};
/// use std::path::Path;
/// let tls = Tls::from_files(
///     Some(Path::new("certs/ca.pem")),
///     Some(Path::new("certs/client.pem")),
///     Some(Path::new("certs/client.key")),
/// )?;
/// let client = Client::connect_with("https://127.0.0.1:50051", Some(&tls)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Tls {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Tls")
            .field("ca", &self.ca.is_some())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        ClientError::Transport(format!("cannot read the {what} {}: {e}", path.display()))
    })
}

impl Tls {
    /// From PEM files: `ca` (the CA that issued the node's certificate), and `cert` + `key` (this
    /// client's certificate and key, for a node that requires mutual TLS). Give both or neither
    /// of `cert` and `key`.
    ///
    /// # Errors
    /// [`ClientError::Transport`] naming a file that cannot be read, or a certificate without
    /// its key.
    pub fn from_files(ca: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> Result<Tls> {
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((read(c, "client certificate")?, read(k, "client key")?)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ClientError::Transport(
                    "a client certificate needs its key: add --key FILE".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(ClientError::Transport(
                    "a client key needs its certificate: add --cert FILE".into(),
                ))
            }
        };
        let ca = ca.map(|p| read(p, "CA certificate")).transpose()?;
        Ok(Tls { ca, identity })
    }

    /// From PEM bytes.
    pub fn from_pem(ca: Option<Vec<u8>>, identity: Option<(Vec<u8>, Vec<u8>)>) -> Tls {
        Tls { ca, identity }
    }

    /// Whether any material is set.
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.identity.is_none()
    }

    fn config(&self) -> ClientTlsConfig {
        let mut c = ClientTlsConfig::new();
        if let Some(ca) = &self.ca {
            c = c.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = &self.identity {
            c = c.identity(Identity::from_pem(cert, key));
        }
        c
    }
}

/// The endpoint for `url`: `http://` in plaintext, `https://` with `tls` (which must name the
/// CA: this client trusts no public roots, only the consortium's own CA).
///
/// # Errors
/// [`ClientError::Transport`] for an invalid URL, an `https://` URL without a CA, or TLS
/// material for an `http://` URL.
pub fn endpoint(url: &str, tls: Option<&Tls>) -> Result<Endpoint> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| ClientError::Transport(format!("invalid endpoint `{url}`: {e}")))?;
    let tls = tls.filter(|t| !t.is_empty());
    match (url.starts_with("https://"), tls) {
        (true, Some(t)) if t.ca.is_some() => endpoint
            .tls_config(t.config())
            .map_err(|e| ClientError::Transport(format!("TLS settings for `{url}` refused: {e}"))),
        (true, _) => Err(ClientError::Transport(format!(
            "`{url}` is https: give the CA that issued the node's certificate (--ca FILE, or \
             HANOK_CA)"
        ))),
        (false, Some(_)) => Err(ClientError::Transport(format!(
            "TLS files were given but `{url}` is not https://; use https://HOST:PORT"
        ))),
        (false, None) => Ok(endpoint),
    }
}

/// Connects to `url` (see [`endpoint`]).
///
/// # Errors
/// As [`endpoint`]; [`ClientError::Transport`] if the node cannot be reached or the TLS
/// handshake fails (e.g. the node requires a client certificate and none was given).
pub async fn channel(url: &str, tls: Option<&Tls>) -> Result<Channel> {
    Ok(endpoint(url, tls)?.connect().await?)
}
