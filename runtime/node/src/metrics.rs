//! Prometheus metrics: what the node counts, and the plain-HTTP endpoint that serves them
//! (`--metrics 127.0.0.1:PORT`, `GET /metrics`). Each metric's meaning is in
//! `docs/operations.md` ("Metrics").
//!
//! Why `prometheus-client`: it is the Prometheus project's own Rust client, small (no runtime,
//! no global registry, no exporter of its own), typed (a counter cannot go down) and it writes
//! the text format every scraper reads; the endpoint is a few lines of hyper, which tonic
//! already brings.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// One label, e.g. `("outcome", "ok")`.
type Label = [(&'static str, &'static str); 1];

/// Scrape connections served at once; more are closed at once.
const MAX_SCRAPERS: usize = 8;
/// A scrape connection lives at most this long (a keep-alive scraper reconnects), so idle
/// connections cannot hold every slot.
const SCRAPE_CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Time to send a request's headers.
const SCRAPE_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the node closed a connection itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClosedConnections {
    /// Sent no HTTP/2 preface in time.
    pub handshake_timeout: Counter,
    /// Carried a subscription whose client read nothing, not even the error that dropped it.
    pub stalled_subscriber: Counter,
    /// Still busy at the end of the shutdown grace.
    pub shutdown: Counter,
}

/// Every metric, as cheap handles (clones share the values).
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Arc<Registry>,
    pub blocks: Counter,
    pub height: Gauge,
    pub transactions: Family<Label, Counter>,
    pub submissions: Family<Label, Counter>,
    pub mempool: Gauge,
    pub signature_checks: Gauge,
    pub block_stage: Family<Label, Histogram>,
    pub log_sync: Histogram,
    pub block_txs: Histogram,
    pub connections_open: Gauge,
    pub connections_limit: Gauge,
    pub connections_refused: Counter,
    pub connections_closed: ClosedConnections,
    pub accept_errors: Counter,
    pub subscriptions_open: Gauge,
    pub subscriptions_refused: Family<Label, Counter>,
    pub subscriptions_dropped: Family<Label, Counter>,
    pub replay_height: Gauge,
    pub replay_target: Gauge,
    pub serving: Gauge,
    pub rss: Gauge,
    pub open_fds: Gauge,
    pub max_fds: Gauge,
}

fn seconds() -> Histogram {
    // 100 µs to about 6.5 s, doubling.
    Histogram::new(exponential_buckets(0.000_1, 2.0, 17))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let blocks = Counter::default();
        r.register("hanok_blocks_committed", "Blocks committed", blocks.clone());
        let height = Gauge::default();
        r.register(
            "hanok_height",
            "Height of the last committed block",
            height.clone(),
        );
        let transactions = Family::<Label, Counter>::default();
        r.register(
            "hanok_transactions",
            "Transactions in committed blocks, by outcome (ok, contract_error, vm_error, rejected)",
            transactions.clone(),
        );
        let submissions = Family::<Label, Counter>::default();
        r.register(
            "hanok_submissions",
            "Transactions submitted (Submit, SubmitAndWait, each of a SubmitStream), by result: accepted, \
             or the gRPC code of the refusal",
            submissions.clone(),
        );
        let mempool = Gauge::default();
        r.register(
            "hanok_mempool_transactions",
            "Transactions waiting in the mempool",
            mempool.clone(),
        );
        let signature_checks = Gauge::default();
        r.register(
            "hanok_signature_checks_pending",
            "Submitted transactions queued for or in their signature check",
            signature_checks.clone(),
        );
        let block_stage =
            Family::<Label, Histogram>::new_with_constructor(seconds as fn() -> Histogram);
        r.register(
            "hanok_block_stage_seconds",
            "Time of each stage of a block: verify (a block from elsewhere), execute, log (append + fsync), state, total; order (a consortium leader: replication to a quorum)",
            block_stage.clone(),
        );
        let log_sync = seconds();
        r.register(
            "hanok_block_log_sync_seconds",
            "Appending one block to the block log and fsyncing it",
            log_sync.clone(),
        );
        let block_txs = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        r.register(
            "hanok_block_transactions",
            "Transactions per committed block",
            block_txs.clone(),
        );
        let connections_open = Gauge::default();
        r.register(
            "hanok_connections_open",
            "Client connections open",
            connections_open.clone(),
        );
        let connections_limit = Gauge::default();
        r.register(
            "hanok_connections_limit",
            "The connection cap in force (max_connections, lowered under the descriptor limit)",
            connections_limit.clone(),
        );
        let connections_refused = Counter::default();
        r.register(
            "hanok_connections_refused",
            "Connections closed at once because the cap was reached",
            connections_refused.clone(),
        );
        let closed = Family::<Label, Counter>::default();
        r.register(
            "hanok_connections_closed",
            "Connections the node closed itself, by reason (handshake_timeout, \
             stalled_subscriber, shutdown)",
            closed.clone(),
        );
        // One handle per reason, resolved once: each shares its series' value.
        let connections_closed = ClosedConnections {
            handshake_timeout: closed.get_or_create_owned(&[("reason", "handshake_timeout")]),
            stalled_subscriber: closed.get_or_create_owned(&[("reason", "stalled_subscriber")]),
            shutdown: closed.get_or_create_owned(&[("reason", "shutdown")]),
        };
        let accept_errors = Counter::default();
        r.register(
            "hanok_accept_errors",
            "Accepts that failed for want of descriptors or memory (the loop pauses 100 ms)",
            accept_errors.clone(),
        );
        let subscriptions_open = Gauge::default();
        r.register(
            "hanok_subscriptions_open",
            "Streams open: StreamBlocks, StreamEvents and SubmitStream",
            subscriptions_open.clone(),
        );
        let subscriptions_refused = Family::<Label, Counter>::default();
        r.register(
            "hanok_subscriptions_refused",
            "Streams refused with RESOURCE_EXHAUSTED, by the limit hit (node, connection)",
            subscriptions_refused.clone(),
        );
        let subscriptions_dropped = Family::<Label, Counter>::default();
        r.register(
            "hanok_subscriptions_dropped",
            "Streams the node ended, by reason (stalled: the client read nothing for \
             subscription_stall_timeout_ms; shutdown)",
            subscriptions_dropped.clone(),
        );
        let replay_height = Gauge::default();
        r.register(
            "hanok_replay_height",
            "Last block replayed from the block log at start",
            replay_height.clone(),
        );
        let replay_target = Gauge::default();
        r.register(
            "hanok_replay_target",
            "Last block of the block log, which the replay at start runs to",
            replay_target.clone(),
        );
        let serving = Gauge::default();
        r.register(
            "hanok_serving",
            "1 when the node serves (its health check says SERVING); 0 while it replays, is \
             halted or stops",
            serving.clone(),
        );
        let rss = Gauge::default();
        r.register(
            "process_resident_memory_bytes",
            "Resident memory of the node process (VmRSS)",
            rss.clone(),
        );
        let open_fds = Gauge::default();
        r.register(
            "process_open_fds",
            "Open file descriptors",
            open_fds.clone(),
        );
        let max_fds = Gauge::default();
        r.register(
            "process_max_fds",
            "The descriptor limit (soft RLIMIT_NOFILE, raised to the hard limit at start)",
            max_fds.clone(),
        );
        // Every labelled series exists from the start (at 0), so a dashboard or an alert
        // sees it before the first event.
        for outcome in ["ok", "contract_error", "vm_error", "rejected"] {
            let _ = transactions.get_or_create_owned(&[("outcome", outcome)]);
        }
        for limit in ["node", "connection"] {
            let _ = subscriptions_refused.get_or_create_owned(&[("limit", limit)]);
        }
        for reason in ["stalled", "shutdown"] {
            let _ = subscriptions_dropped.get_or_create_owned(&[("reason", reason)]);
        }
        Metrics {
            registry: Arc::new(r),
            blocks,
            height,
            transactions,
            submissions,
            mempool,
            signature_checks,
            block_stage,
            log_sync,
            block_txs,
            connections_open,
            connections_limit,
            connections_refused,
            connections_closed,
            accept_errors,
            subscriptions_open,
            subscriptions_refused,
            subscriptions_dropped,
            replay_height,
            replay_target,
            serving,
            rss,
            open_fds,
            max_fds,
        }
    }

    /// The metrics in the OpenMetrics text format (what Prometheus scrapes).
    pub fn render(&self) -> String {
        self.rss.set(rss_bytes().unwrap_or(0));
        if let Some(n) = crate::net::open_fds() {
            self.open_fds.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "could not encode the metrics");
        }
        out
    }
}

/// Resident memory of this process in bytes (Linux: `VmRSS` in `/proc/self/status`).
fn rss_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

/// The name of a gRPC code as a label value.
pub(crate) fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "accepted",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// Serves `GET /metrics` on `listener` over plain HTTP/1.1 until `shutdown`, rendering with
/// `render` at each scrape. At most [`MAX_SCRAPERS`] connections at once; each lives at most
/// [`SCRAPE_CONNECTION_LIFETIME`].
pub(crate) async fn serve(
    listener: TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_SCRAPERS));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let Ok((io, _)) = accepted else {
            // Out of descriptors or the like: it clears when connections close.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let render = render.clone();
                async move { Ok::<_, Infallible>(answer(&req, &*render)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(SCRAPE_HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(io), service);
            let _ = tokio::time::timeout(SCRAPE_CONNECTION_LIFETIME, conn).await;
            drop(slot);
        });
    }
}

fn answer<B>(
    req: &Request<B>,
    render: &(dyn Fn() -> String + Send + Sync),
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = content_type.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        r
    };
    if req.method() == hyper::Method::GET && req.uri().path() == "/metrics" {
        reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            render(),
        )
    } else {
        reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "hanok serves its metrics at GET /metrics\n".into(),
        )
    }
}
