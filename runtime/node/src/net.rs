//! Client connections: the accept loop with a cap kept under the process's descriptor limit, a
//! deadline for the HTTP/2 preface, and a handle to close any one connection (a subscriber that
//! stopped reading) or all of them (the end of the shutdown grace).
//!
//! Why our own accept loop rather than tonic's: tonic accepts every connection it is offered and
//! has no handshake deadline for plaintext. At the descriptor limit the next file sled or the
//! block log opens fails ("Too many open files") and block production stops; a cap below the
//! limit, with descriptors reserved for storage, keeps that from happening however many clients
//! connect.

use crate::metrics::Metrics;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

/// Descriptors kept free for storage and the node's own files, on top of those open at start:
/// sled's database and blob files, the block log, the compiled-module cache, files the ledger's
/// blocking calls open at once (at most `MAX_LEDGER_CALLS` of them), the metrics endpoint's
/// connections and the runtime's own.
pub(crate) const RESERVED_FDS: u64 = 256;

/// The least connection cap the node starts with; below it the descriptor limit is too low.
const MIN_CONNECTIONS: usize = 8;

/// What a plaintext client sends first: the HTTP/2 connection preface
/// (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, 24 bytes) and the header of its first SETTINGS frame.
const HTTP2_PREFACE_LEN: usize = 24 + 9;

/// How long the accept loop pauses when the process is out of descriptors (`EMFILE`), so the
/// condition clears instead of the loop spinning on it.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// At most one warning of a kind per this long: a flood must not become a flood of log lines.
const WARN_EVERY: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The descriptor budget: raises the soft `RLIMIT_NOFILE` to the hard limit and returns the
/// connection cap, `wanted` lowered so that the descriptors open now plus [`RESERVED_FDS`] stay
/// free for storage.
///
/// # Errors
/// A message for the operator when the limit leaves room for fewer than a handful of
/// connections.
pub(crate) fn connection_cap(wanted: usize) -> Result<(usize, Option<u64>), String> {
    let Some(limit) = raise_fd_limit() else {
        return Ok((wanted, None));
    };
    let open = open_fds().unwrap_or(0);
    let room = limit.saturating_sub(open).saturating_sub(RESERVED_FDS);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    if room < MIN_CONNECTIONS.min(wanted.max(1)) {
        return Err(format!(
            "the descriptor limit (ulimit -n) is {limit}, with {open} open: the node keeps \
             {RESERVED_FDS} free for storage and needs room for at least {MIN_CONNECTIONS} client \
             connections; raise the limit (e.g. LimitNOFILE=65536 in a systemd unit) to at \
             least {}",
            open.saturating_add(RESERVED_FDS)
                .saturating_add(MIN_CONNECTIONS as u64)
        ));
    }
    let cap = wanted.min(room);
    if cap < wanted {
        tracing::warn!(
            max_connections = wanted,
            cap,
            fd_limit = limit,
            reserved = RESERVED_FDS,
            "lowered the connection cap to stay under the descriptor limit; raise ulimit -n to \
             allow more"
        );
    }
    Ok((cap, Some(limit)))
}

/// Raises the soft descriptor limit to the hard one; the soft limit in force after.
#[cfg(unix)]
fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass, which outlives the
    // calls; RLIMIT_NOFILE is a valid resource.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    #[allow(
        clippy::useless_conversion,
        reason = "rlim_t is u64 on Linux, not on every unix"
    )]
    u64::try_from(lim.rlim_cur).ok()
}

#[cfg(not(unix))]
fn raise_fd_limit() -> Option<u64> {
    None
}

/// Descriptors this process has open (Linux: `/proc/self/fd`).
pub(crate) fn open_fds() -> Option<u64> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    u64::try_from(dir.count()).ok()
}

/// The node's side of one connection: who it is, whether it must close, its subscriptions.
#[derive(Debug)]
pub(crate) struct ConnCtl {
    id: u64,
    /// The client's address.
    pub remote: SocketAddr,
    /// Bytes read so far, counted up to the HTTP/2 preface.
    read: AtomicUsize,
    closed: AtomicBool,
    /// The reader's waker, so that [`ConnCtl::close`] wakes a connection waiting for input.
    waker: Mutex<Option<Waker>>,
    /// Subscriptions open on this connection.
    pub subscriptions: AtomicUsize,
}

impl ConnCtl {
    /// Closes the connection: its next read or write fails, which ends it and everything it
    /// carries (HTTP/2 then frees the buffers of its streams).
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(w) = lock(&self.waker).take() {
            w.wake();
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn sent_preface(&self) -> bool {
        self.read.load(Ordering::Relaxed) >= HTTP2_PREFACE_LEN
    }
}

/// What tonic attaches to each request of a connection (`Request::extensions`): the client's
/// address and the connection's handle.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The connection.
    pub ctl: Arc<ConnCtl>,
}

/// The connection a request came on, plaintext or TLS.
pub(crate) fn conn_of(extensions: &tonic::codegen::http::Extensions) -> Option<Arc<ConnCtl>> {
    use tonic::transport::server::TlsConnectInfo;
    extensions
        .get::<ConnInfo>()
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<ConnInfo>>()
                .map(TlsConnectInfo::get_ref)
        })
        .map(|c| c.ctl.clone())
}

/// Every open connection, under a cap.
#[derive(Debug)]
pub(crate) struct Conns {
    cap: usize,
    open: Mutex<HashMap<u64, Arc<ConnCtl>>>,
    next: AtomicU64,
    metrics: Metrics,
}

impl Conns {
    pub fn new(cap: usize, metrics: Metrics) -> Arc<Conns> {
        metrics
            .connections_limit
            .set(i64::try_from(cap).unwrap_or(i64::MAX));
        Arc::new(Conns {
            cap,
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            metrics,
        })
    }

    /// The cap in force.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        lock(&self.open).len()
    }

    /// Closes every connection; returns how many there were.
    pub fn close_all(&self) -> usize {
        let open: Vec<Arc<ConnCtl>> = lock(&self.open).values().cloned().collect();
        for c in &open {
            c.close();
        }
        open.len()
    }

    /// Takes `io` as a connection, or `None` when the cap is reached.
    fn admit(self: &Arc<Self>, io: TcpStream, remote: SocketAddr) -> Option<Conn> {
        let ctl = {
            let mut open = lock(&self.open);
            if open.len() >= self.cap {
                return None;
            }
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            let ctl = Arc::new(ConnCtl {
                id,
                remote,
                read: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                waker: Mutex::new(None),
                subscriptions: AtomicUsize::new(0),
            });
            open.insert(id, ctl.clone());
            self.metrics
                .connections_open
                .set(i64::try_from(open.len()).unwrap_or(i64::MAX));
            ctl
        };
        Some(Conn {
            io,
            ctl,
            conns: self.clone(),
        })
    }

    fn remove(&self, id: u64) {
        let mut open = lock(&self.open);
        open.remove(&id);
        self.metrics
            .connections_open
            .set(i64::try_from(open.len()).unwrap_or(i64::MAX));
    }
}

/// A client connection as the gRPC server sees it: the socket, which fails every read and write
/// once [`ConnCtl::close`] was called, and leaves the registry when dropped.
#[derive(Debug)]
pub(crate) struct Conn {
    io: TcpStream,
    ctl: Arc<ConnCtl>,
    conns: Arc<Conns>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.conns.remove(self.ctl.id);
    }
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection closed by the node",
    )
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        {
            let mut waker = lock(&this.ctl.waker);
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        // Checked after registering the waker, so a close in between is not missed.
        if this.ctl.is_closed() {
            return Poll::Ready(Err(closed_error()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if !this.ctl.sent_preface() {
                let n = buf.filled().len().saturating_sub(before);
                this.ctl.read.fetch_add(n, Ordering::Relaxed);
            }
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.ctl.is_closed() {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.ctl.is_closed() {
            return Poll::Ready(Err(closed_error()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo {
            ctl: self.ctl.clone(),
        }
    }
}

/// Logs a warning at most once per [`WARN_EVERY`].
#[derive(Debug, Default)]
struct Throttle(Option<Instant>);

impl Throttle {
    fn ready(&mut self) -> bool {
        let now = Instant::now();
        if self.0.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
            return false;
        }
        self.0 = Some(now);
        true
    }
}

/// How the accept loop treats a new connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AcceptRules {
    /// Plaintext: the client must send the HTTP/2 preface within `handshake` (under TLS the
    /// TLS handshake has the same deadline, enforced by tonic).
    pub plaintext: bool,
    /// The handshake deadline.
    pub handshake: Duration,
}

/// Accepts connections on `listener` until `shutdown`, under the cap of `conns`, and hands them
/// to the gRPC server. A connection over the cap is closed at once; one that does not send the
/// HTTP/2 preface in time is closed then.
pub(crate) fn incoming(
    listener: TcpListener,
    conns: Arc<Conns>,
    rules: AcceptRules,
    mut shutdown: watch::Receiver<bool>,
) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let mut at_cap = Throttle::default();
        let mut no_fds = Throttle::default();
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            let (io, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    if out_of_descriptors(&e) {
                        conns.metrics.accept_errors.inc();
                        if no_fds.ready() {
                            tracing::warn!(
                                error = %e,
                                open = conns.len(),
                                "cannot accept a connection: out of descriptors; pausing \
                                 accepts (lower max_connections or raise ulimit -n)"
                            );
                        }
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    } else {
                        tracing::debug!(error = %e, "accept failed");
                    }
                    continue;
                }
            };
            // Without TCP_NODELAY, Nagle's algorithm holds a small response until the client's
            // delayed ACK (about 40 ms on Linux): every unary call would take that long on an
            // idle node.
            if let Err(e) = io.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
            let Some(conn) = conns.admit(io, remote) else {
                conns.metrics.connections_refused.inc();
                if at_cap.ready() {
                    tracing::warn!(
                        cap = conns.cap(),
                        %remote,
                        "connection limit reached: closing new connections at once (raise \
                         max_connections, and ulimit -n, if this is real load)"
                    );
                }
                continue;
            };
            if rules.plaintext {
                let ctl = Arc::downgrade(&conn.ctl);
                let metrics = conns.metrics.clone();
                let deadline = rules.handshake;
                tokio::spawn(async move {
                    tokio::time::sleep(deadline).await;
                    if let Some(ctl) = ctl.upgrade() {
                        if !ctl.sent_preface() && !ctl.is_closed() {
                            tracing::debug!(remote = %ctl.remote, "closed a connection that sent no HTTP/2 preface in time");
                            metrics.connections_closed.handshake_timeout.inc();
                            ctl.close();
                        }
                    }
                });
            }
            if tx.send(Ok(conn)).await.is_err() {
                break;
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Whether an accept failed for want of descriptors or memory: conditions that clear when
/// connections close, so the loop pauses instead of spinning.
fn out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}
