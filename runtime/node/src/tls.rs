//! TLS for the gRPC server (rustls through tonic): the node's certificate, mutual TLS against a
//! client CA, the calling organisation read from the client's certificate, and dev certificates.
//!
//! The same files and rules serve node-to-node traffic in a consortium: every party holds a key
//! and a certificate issued by the consortium's CA.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The organisation shown for a client that presented no certificate (plaintext or one-way TLS).
pub const ANONYMOUS: &str = "-";

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Tls {
        path: path.to_path_buf(),
        reason: format!("cannot read the {what}: {e}"),
    })
}

/// Checks that `pem` holds at least one PEM block labelled `label` (`CERTIFICATE`, or a key).
fn expect_pem(path: &Path, pem: &[u8], what: &str, labels: &[&str]) -> Result<()> {
    let text = String::from_utf8_lossy(pem);
    if labels
        .iter()
        .any(|l| text.contains(&format!("-----BEGIN {l}-----")))
    {
        Ok(())
    } else {
        Err(Error::Tls {
            path: path.to_path_buf(),
            reason: format!(
                "not a PEM {what} (expected a `-----BEGIN {}-----` block)",
                labels.first().copied().unwrap_or("CERTIFICATE")
            ),
        })
    }
}

const KEY_LABELS: &[&str] = &["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"];

/// The server side: this node's certificate chain and key, and with `client_ca` mutual TLS —
/// every client must present a certificate issued by that CA, or the handshake fails before any
/// request is read. A handshake not complete within `handshake_timeout` is dropped, so a client
/// that opens a connection and sends nothing holds no descriptor for long.
///
/// # Errors
/// [`Error::Tls`] naming the file that cannot be read or is not PEM.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    handshake_timeout: Duration,
) -> Result<ServerTlsConfig> {
    let cert_pem = read(cert, "certificate")?;
    expect_pem(cert, &cert_pem, "certificate", &["CERTIFICATE"])?;
    let key_pem = read(key, "private key")?;
    expect_pem(key, &key_pem, "private key", KEY_LABELS)?;
    let mut config = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert_pem, key_pem))
        .timeout(handshake_timeout);
    if let Some(ca) = client_ca {
        let ca_pem = read(ca, "client CA certificate")?;
        expect_pem(ca, &ca_pem, "CA certificate", &["CERTIFICATE"])?;
        config = config
            .client_ca_root(Certificate::from_pem(ca_pem))
            .client_auth_optional(false);
    }
    Ok(config)
}

/// The client side of the same files, for a consortium member calling the others: the
/// consortium's CA (`ca`) and this node's certificate and key, checked as [`server_config`]
/// checks them.
///
/// # Errors
/// [`Error::Tls`] naming the file that cannot be read or is not PEM.
pub(crate) fn client_config(cert: &Path, key: &Path, ca: &Path) -> Result<ClientTlsConfig> {
    let cert_pem = read(cert, "certificate")?;
    expect_pem(cert, &cert_pem, "certificate", &["CERTIFICATE"])?;
    let key_pem = read(key, "private key")?;
    expect_pem(key, &key_pem, "private key", KEY_LABELS)?;
    let ca_pem = read(ca, "consortium CA certificate")?;
    expect_pem(ca, &ca_pem, "CA certificate", &["CERTIFICATE"])?;
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .identity(Identity::from_pem(cert_pem, key_pem)))
}

/// The organisation a certificate names: its subject's `O`, else its `CN`.
pub fn organisation(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let subject = cert.subject();
    let org = subject
        .iter_organization()
        .find_map(|a| a.as_str().ok().map(str::to_string));
    org.or_else(|| {
        subject
            .iter_common_name()
            .find_map(|a| a.as_str().ok().map(str::to_string))
    })
}

/// Who is calling, for the logs: the organisation of the client certificate this connection
/// presented (mutual TLS), else [`ANONYMOUS`].
pub(crate) fn caller(extensions: &tonic::codegen::http::Extensions) -> String {
    use tonic::transport::server::TlsConnectInfo;
    extensions
        .get::<TlsConnectInfo<crate::net::ConnInfo>>()
        .and_then(|info| info.peer_certs())
        .and_then(|certs| certs.first().and_then(|c| organisation(c.as_ref())))
        .unwrap_or_else(|| ANONYMOUS.to_string())
}

/// The calling peer as a consortium member sees it: the organisation of its client
/// certificate, and whether that certificate may also serve (the server-authentication
/// extended key usage, which member certificates carry and client certificates do not).
/// `None` without a client certificate.
pub(crate) fn peer_node(extensions: &tonic::codegen::http::Extensions) -> Option<(String, bool)> {
    use tonic::transport::server::TlsConnectInfo;
    let certs = extensions
        .get::<TlsConnectInfo<crate::net::ConnInfo>>()
        .and_then(|info| info.peer_certs())?;
    node_identity(certs.first()?.as_ref())
}

/// A certificate's organisation, and whether it carries the server-authentication usage.
pub(crate) fn node_identity(der: &[u8]) -> Option<(String, bool)> {
    let org = organisation(der)?;
    let serves = x509_parser::parse_x509_certificate(der)
        .ok()
        .and_then(|(_, cert)| {
            cert.extended_key_usage()
                .ok()
                .flatten()
                .map(|e| e.value.server_auth)
        })
        .unwrap_or(false);
    Some((org, serves))
}

/// The files `hanok tls dev-certs` writes, by name.
pub const DEV_CERT_FILES: &[&str] = &["ca.pem", "node.pem", "node.key", "client.pem", "client.key"];

/// Writes a throwaway CA and, signed by it, a node certificate for `127.0.0.1` and `localhost`
/// and a client certificate of organisation `client_org`: `ca.pem`, `node.pem`, `node.key`,
/// `client.pem`, `client.key` in `dir` (created if missing; keys readable by the owner only).
/// For trials on one machine; a real deployment uses its consortium's CA.
///
/// # Errors
/// [`Error::Tls`] if a file cannot be written or a certificate cannot be made.
pub fn write_dev_certs(dir: &Path, client_org: &str) -> Result<Vec<PathBuf>> {
    write_certs(
        dir,
        "hanok dev CA",
        false,
        &[
            Leaf {
                stem: "node",
                org: "hanok dev node",
                server: true,
                client: false,
            },
            Leaf {
                stem: "client",
                org: client_org,
                server: false,
                client: true,
            },
        ],
    )
}

/// Writes a trial consortium's certificates in `dir`: a CA (`ca.pem`, and `ca.key` to issue
/// more later), for each member `<name>.pem` / `<name>.key` (organisation `<name>`, valid for
/// `127.0.0.1` and `localhost`, usable to serve and to call other members), and a client
/// certificate `client.pem` / `client.key` of organisation `client_org`.
///
/// # Errors
/// [`Error::Tls`] if a file cannot be written or a certificate cannot be made.
pub fn write_consortium_certs(
    dir: &Path,
    members: &[String],
    client_org: &str,
) -> Result<Vec<PathBuf>> {
    let mut leaves: Vec<Leaf<'_>> = members
        .iter()
        .map(|m| Leaf {
            stem: m,
            org: m,
            server: true,
            client: true,
        })
        .collect();
    leaves.push(Leaf {
        stem: "client",
        org: client_org,
        server: false,
        client: true,
    });
    write_certs(dir, "hanok trial consortium CA", true, &leaves)
}

/// Issues a certificate for a member added to a trial consortium: `dir/<member>.pem` and
/// `dir/<member>.key`, signed by the CA [`write_consortium_certs`] left in `dir` (`ca.pem`,
/// `ca.key`). Returns the two paths.
///
/// # Errors
/// [`Error::Tls`] naming the file that cannot be read, parsed or written.
pub fn write_member_cert(dir: &Path, member: &str) -> Result<Vec<PathBuf>> {
    let (ca_path, key_path) = (dir.join("ca.pem"), dir.join("ca.key"));
    let fail = |path: &Path, reason: String| Error::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let text = |path: &Path, what: &str| -> Result<String> {
        String::from_utf8(read(path, what)?)
            .map_err(|_| fail(path, format!("the {what} is not PEM text")))
    };
    let ca_pem = text(
        &ca_path,
        "consortium CA certificate (from `hanok consortium init`)",
    )?;
    let ca_key = text(
        &key_path,
        "consortium CA key (from `hanok consortium init`)",
    )?;
    let key = rcgen::KeyPair::from_pem(&ca_key)
        .map_err(|e| fail(&key_path, format!("not a CA key: {e}")))?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(&ca_pem, key)
        .map_err(|e| fail(&ca_path, format!("not a CA certificate: {e}")))?;
    let files = leaf_files(
        dir,
        &Leaf {
            stem: member,
            org: member,
            server: true,
            client: true,
        },
        &issuer,
    )?;
    write_all(dir, files)
}

/// One certificate [`write_certs`] issues: `<stem>.pem` and `<stem>.key`.
struct Leaf<'a> {
    stem: &'a str,
    org: &'a str,
    /// Valid to serve (for `127.0.0.1` and `localhost`).
    server: bool,
    /// Valid as a client certificate.
    client: bool,
}

fn write_certs(
    dir: &Path,
    ca_name: &str,
    keep_ca_key: bool,
    leaves: &[Leaf<'_>],
) -> Result<Vec<PathBuf>> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let fail = |path: &Path, reason: String| Error::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let gen = |e: rcgen::Error| fail(dir, format!("cannot make a certificate: {e}"));
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, format!("cannot create: {e}")))?;

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(gen)?;
    ca.distinguished_name
        .push(DnType::OrganizationName, ca_name);
    ca.distinguished_name.push(
        DnType::CommonName,
        format!("{ca_name} (not for production)"),
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(gen)?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca, ca_key).map_err(gen)?;

    let mut files = vec![("ca.pem".to_string(), ca.pem(), false)];
    if keep_ca_key {
        files.push(("ca.key".to_string(), ca_key_pem, true));
    }
    for leaf in leaves {
        files.extend(leaf_files(dir, leaf, &ca)?);
    }
    write_all(dir, files)
}

/// Writes `(file name, text, secret)` triples into `dir`; returns the paths.
fn write_all(dir: &Path, files: Vec<(String, String, bool)>) -> Result<Vec<PathBuf>> {
    let mut written = Vec::with_capacity(files.len());
    for (name, text, secret) in files {
        let path = dir.join(name);
        write_file(&path, text.as_bytes(), secret).map_err(|e| Error::Tls {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        written.push(path);
    }
    Ok(written)
}

/// A leaf certificate signed by `issuer` and its key: `(<stem>.pem, PEM, false)` and
/// `(<stem>.key, PEM, true)` (a secret).
fn leaf_files(
    dir: &Path,
    leaf: &Leaf<'_>,
    issuer: &rcgen::Issuer<'_, impl rcgen::SigningKey>,
) -> Result<Vec<(String, String, bool)>> {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
    let gen = |e: rcgen::Error| Error::Tls {
        path: dir.to_path_buf(),
        reason: format!("cannot make a certificate: {e}"),
    };
    let key = KeyPair::generate().map_err(gen)?;
    let names = if leaf.server {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        vec![leaf.org.to_string()]
    };
    let mut p = CertificateParams::new(names).map_err(gen)?;
    p.distinguished_name
        .push(DnType::OrganizationName, leaf.org);
    p.distinguished_name.push(DnType::CommonName, leaf.org);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if leaf.server {
        p.extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if leaf.client {
        p.extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    let cert = p.signed_by(&key, issuer).map_err(gen)?;
    Ok(vec![
        (format!("{}.pem", leaf.stem), cert.pem(), false),
        (format!("{}.key", leaf.stem), key.serialize_pem(), true),
    ])
}

/// Writes `bytes` to `path`; a secret is created readable by its owner only (never briefly
/// readable by others, as a chmod after writing would leave it).
pub(crate) fn write_file(path: &Path, bytes: &[u8], secret: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_certificates_serve_and_client_certificates_do_not() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Task(e.to_string()))?;
        // A client certificate naming a member's organisation must not pass for the member.
        write_consortium_certs(dir.path(), &["registry".to_string()], "registry")?;
        let der = |name: &str| -> Result<Vec<u8>> {
            let pem =
                std::fs::read(dir.path().join(name)).map_err(|e| Error::Task(e.to_string()))?;
            let (_, p) =
                x509_parser::pem::parse_x509_pem(&pem).map_err(|e| Error::Task(e.to_string()))?;
            Ok(p.contents)
        };
        assert_eq!(
            node_identity(&der("registry.pem")?),
            Some(("registry".to_string(), true))
        );
        assert_eq!(
            node_identity(&der("client.pem")?),
            Some(("registry".to_string(), false))
        );
        Ok(())
    }

    #[test]
    fn dev_certs_name_their_organisations_and_load() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Task(e.to_string()))?;
        let files = write_dev_certs(dir.path(), "Bank A")?;
        assert_eq!(files.len(), DEV_CERT_FILES.len());
        let pem = std::fs::read_to_string(dir.path().join("client.pem"))
            .map_err(|e| Error::Task(e.to_string()))?;
        let der = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|e| Error::Task(e.to_string()))?
            .1
            .contents;
        assert_eq!(organisation(&der).as_deref(), Some("Bank A"));
        server_config(
            &dir.path().join("node.pem"),
            &dir.path().join("node.key"),
            Some(&dir.path().join("ca.pem")),
            Duration::from_secs(10),
        )?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("node.key"))
                .map_err(|e| Error::Task(e.to_string()))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "keys are private");
        }
        Ok(())
    }

    #[test]
    fn a_key_given_as_certificate_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_dev_certs(dir.path(), "x").expect("certs");
        let err = server_config(
            &dir.path().join("node.key"),
            &dir.path().join("node.key"),
            None,
            Duration::from_secs(10),
        )
        .expect_err("a key is not a certificate");
        assert!(err.to_string().contains("node.key"), "{err}");
        assert!(err.to_string().contains("not a PEM certificate"), "{err}");
    }
}
