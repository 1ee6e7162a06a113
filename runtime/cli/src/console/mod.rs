//! `hanok console`: the registry official's desk in a browser. A small web server on the
//! official's own machine (loopback only) that reads the chain through the node's gRPC API and
//! signs approvals and rejections with the official's key. The key stays in this process: the
//! browser only ever sees pages, and nothing but signed transactions reaches the node.
//!
//! - `GET /`: the approval queue, updated live from the node's `StreamEvents` over server-sent
//!   events (`GET /events`, re-rendering `GET /queue/rows`);
//! - `GET /deal/{id}`: a deal with its checks and the settlement's effect from `Simulate`;
//!   `POST /deal/{id}/approve` and `POST /deal/{id}/reject` (with a reason) ask for
//!   confirmation, then sign, submit, wait for the block and show the receipt;
//! - `GET /parcel?id=` and `GET /parcel/{id}`: a title with owners, encumbrances and history;
//!   `GET /certificate/{id}` (printable) and `GET /certificate/{id}/json`.
//!
//! Access: the console prints a one-time link with a random token at start; opening it sets an
//! HttpOnly, SameSite=Strict cookie, and every other request needs that cookie. Requests whose
//! `Host` is not the loopback address the console listens on are refused (a DNS-rebinding page
//! cannot reach it), and forms carry a per-process token as well.

mod i18n;
mod pages;
mod view;

use crate::cmd::{Ctx, Opts};
use anyhow::{bail, Context, Result};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use clap::Args;
use hanok_client::{Client, Signer};
use hanok_types::Address;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Mutex, Semaphore};

pub use i18n::Lang;

/// The cookie that carries the session token.
const SESSION_COOKIE: &str = "hanok_console";
/// The cookie that keeps an explicit language choice.
const LANG_COOKIE: &str = "hanok_lang";
/// Live pages (server-sent event streams) open at once.
const MAX_LIVE_PAGES: usize = 16;
/// Requests served at once (live pages included).
const MAX_IN_FLIGHT: usize = 64;

/// `hanok console`'s own options (the node, TLS and signer options are the usual ones).
#[derive(Args, Debug, Clone)]
pub struct ConsoleArgs {
    /// Where to serve the console: a loopback address of this machine (port 0 picks a free
    /// one). The console signs with your key, so it never listens beyond this machine.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

/// The system contracts the console talks to.
#[derive(Clone, Copy, Debug)]
pub struct Sys {
    registry: Address,
    escrow: Address,
    deal: Address,
}

/// A change the live pages hear about: a committed event at `height`, of deal `deal` if any.
#[derive(Clone, Debug)]
pub struct Update {
    height: u64,
    deal: Option<u64>,
}

/// The console's shared state.
pub struct App {
    client: Client,
    signer: Signer,
    me: Address,
    sys: Sys,
    opts: Opts,
    endpoint: String,
    token: String,
    form_token: String,
    listen: SocketAddr,
    updates: broadcast::Sender<Update>,
    live_pages: Arc<Semaphore>,
    /// One signing request at a time, so two clicks never race for the same nonce.
    signing: Mutex<()>,
    /// Turns true when the console stops: live pages end their streams so the server can.
    stopping: watch::Receiver<bool>,
}

/// Runs the console until Ctrl-C.
///
/// # Errors
/// A listen address that is not loopback or is taken, a missing signing key, an unreachable
/// node.
pub async fn run(opts: Opts, args: ConsoleArgs) -> Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {}: the console signs with your key and serves plain HTTP, so it listens \
             on this machine only; give a loopback address such as 127.0.0.1:8080",
            args.listen
        );
    }
    let mut ctx = Ctx::connect(opts.clone()).await?;
    let signer = ctx.signer()?;
    let sys = Sys {
        registry: ctx.registry().await?,
        escrow: ctx.escrow().await?,
        deal: ctx.deal().await?,
    };
    let client = ctx.client.clone();
    let me = signer.address();
    let account = client
        .account(me)
        .await
        .context("asking the node about the signing key's account")?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let listen = listener.local_addr().context("the listening address")?;
    let (updates, _) = broadcast::channel(256);
    let (stop, stopping) = watch::channel(false);
    let app = Arc::new(App {
        endpoint: opts.node.endpoint.clone(),
        client,
        signer,
        me,
        sys,
        opts,
        token: random_token()?,
        form_token: random_token()?,
        listen,
        updates,
        live_pages: Arc::new(Semaphore::new(MAX_LIVE_PAGES)),
        signing: Mutex::new(()),
        stopping,
    });
    tokio::spawn(feed(app.clone()));
    let router = pages::router(app.clone())
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .layer(tower::limit::ConcurrencyLimitLayer::new(MAX_IN_FLIGHT));
    let roles = if account.roles.is_empty() {
        "no roles".to_string()
    } else {
        account.roles.join(", ")
    };
    if !account.roles.iter().any(|r| r == "official") {
        eprintln!(
            "warning: {me} is not enrolled as an official; the node will refuse its approvals"
        );
    }
    println!(
        "hanok console for {} ({roles}) on {}",
        account.did.unwrap_or_else(|| me.to_string()),
        app.endpoint
    );
    println!("open http://{listen}/login?token={}", app.token);
    println!("(the link signs you in; keep it private. Ctrl-C stops the console.)");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            // Ctrl-C or SIGTERM stops serving; live pages end their streams with it.
            stopped().await;
            let _ = stop.send(true);
        })
        .await
        .context("serving the console")?;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(hex::encode(bytes))
}

/// Constant-time equality of two tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// The language of a request: `?lang=` if given, else the cookie, else `Accept-Language`.
fn request_lang(req: &Request) -> (Lang, Option<Lang>) {
    let asked = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("lang="))
            .and_then(Lang::parse)
    });
    let lang = asked
        .or_else(|| cookie(req.headers(), LANG_COOKIE).and_then(Lang::parse))
        .unwrap_or_else(|| {
            Lang::from_accept_language(
                req.headers()
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
            )
        });
    (lang, asked)
}

/// Checks every request: the `Host` is where the console listens, the session cookie is the
/// token (except on `/login`), a form's token matches; and settles the language.
async fn guard(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let (lang, asked) = request_lang(&req);
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            let port = app.listen.port();
            h == format!("127.0.0.1:{port}")
                || h == format!("localhost:{port}")
                || h == format!("[::1]:{port}")
                || h == app.listen.to_string()
        });
    if !host_ok {
        return pages::error_page(
            lang,
            StatusCode::MISDIRECTED_REQUEST,
            "this console answers only on its own loopback address",
        );
    }
    let path = req.uri().path().to_string();
    let signed_in = cookie(req.headers(), SESSION_COOKIE).is_some_and(|c| same(c, &app.token));
    if path != "/login" && !signed_in {
        return pages::error_page(
            lang,
            StatusCode::UNAUTHORIZED,
            match lang {
                Lang::En => "Not signed in: open the link `hanok console` printed when it started (…/login?token=…).",
                Lang::Ko => "로그인되지 않았습니다: `hanok console`이 시작할 때 출력한 링크(…/login?token=…)를 여십시오.",
            },
        );
    }
    req.extensions_mut().insert(lang);
    let mut resp = next.run(req).await;
    if let Some(l) = asked {
        if let Ok(v) = format!("{LANG_COOKIE}={}; Path=/; SameSite=Strict", l.code()).parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// Follows the node's committed events and tells the live pages; reconnects after a lost
/// stream, resuming after the last height seen.
async fn feed(app: Arc<App>) {
    let mut next = match app.client.status().await {
        Ok(s) => s.height.saturating_add(1),
        Err(_) => 1,
    };
    loop {
        match app.client.stream_events(next, None, None).await {
            Ok(mut stream) => {
                // The stream ends (or fails) when the node goes away: reconnect below.
                while let Ok(Some(env)) = stream.message().await {
                    let deal = env
                        .event
                        .as_ref()
                        .filter(|e| e.contract == app.sys.deal.0.to_vec())
                        .and_then(|e| {
                            e.attributes
                                .iter()
                                .find(|a| a.key == "deal_id")
                                .and_then(|a| a.value.parse().ok())
                        });
                    next = next.max(env.height);
                    // Nobody listening is fine.
                    let _ = app.updates.send(Update {
                        height: env.height,
                        deal,
                    });
                }
            }
            Err(e) => tracing::debug!(error = %e, "event stream not available; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
