//! The console's pages: routes, handlers and their templates (`templates/console/`, askama,
//! HTML-escaped by default). Each handler reads what it shows through [`view::Reader`], renders
//! it in the request's language, and turns any failure into a page in plain words.

use super::i18n::{Lang, Text};
use super::view::{self, DealView, Effect, ParcelView};
use super::{same, App, SESSION_COOKIE};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use hanok_client::messages::deal::MAX_REJECTION_REASON_BYTES;
use hanok_client::v1;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// Every route of the console.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(queue))
        .route("/queue/rows", get(queue_rows))
        .route("/deal/{id}", get(deal))
        .route("/deal/{id}/approve", post(approve))
        .route("/deal/{id}/reject", post(reject))
        .route("/parcel", get(parcel_search))
        .route("/parcel/{id}", get(parcel))
        .route("/certificate/{id}", get(certificate_html))
        .route("/certificate/{id}/json", get(certificate_json))
        .route("/events", get(events))
        .route("/login", get(login))
        .with_state(app)
}

/// What every page's frame shows: who signs, which node, the language switch.
pub struct Frame {
    lang: Lang,
    t: &'static Text,
    other_lang: &'static str,
    me: String,
    endpoint: String,
    height: u64,
    official: bool,
    form_token: String,
}

impl Frame {
    async fn new(app: &App, lang: Lang) -> Frame {
        let account = app.client.account(app.me).await.ok();
        let height = app.client.status().await.map_or(0, |s| s.height);
        Frame {
            lang,
            t: lang.text(),
            other_lang: match lang {
                Lang::Ko => "en",
                Lang::En => "ko",
            },
            me: {
                let id = account
                    .as_ref()
                    .and_then(|a| a.did.clone())
                    .unwrap_or_else(|| app.me.to_string());
                match account.as_ref().map(|a| view::roles_words(lang, &a.roles)) {
                    Some(r) if !r.is_empty() => format!("{id} ({r})"),
                    _ => id,
                }
            },
            endpoint: app.endpoint.clone(),
            height,
            official: account.is_some_and(|a| a.roles.iter().any(|r| r == "official")),
            form_token: app.form_token.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    f: Frame,
    deals: Vec<DealView>,
    more: bool,
}

#[derive(Template)]
#[template(path = "console/queue_rows.html")]
struct QueueRows {
    f: Frame,
    deals: Vec<DealView>,
    more: bool,
}

#[derive(Template)]
#[template(path = "console/deal.html")]
struct DealPage {
    f: Frame,
    d: DealView,
    effect: Option<Effect>,
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct ConfirmPage {
    f: Frame,
    d: DealView,
    /// `approve` or `reject`.
    action: &'static str,
    question: &'static str,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/receipt.html")]
struct ReceiptPage {
    f: Frame,
    deal_id: u64,
    ok: bool,
    error: String,
    tx_hash: String,
    height: u64,
    events: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/parcel.html")]
struct ParcelPage {
    f: Frame,
    p: ParcelView,
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    lang: Lang,
    t: &'static Text,
    message: String,
}

fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A page that says what went wrong in plain words (never a trace), with `status`.
pub fn error_page(lang: Lang, status: StatusCode, message: &str) -> Response {
    let mut resp = render(&ErrorPage {
        lang,
        t: lang.text(),
        message: message.to_string(),
    });
    *resp.status_mut() = status;
    resp
}

fn failed(lang: Lang, e: &anyhow::Error) -> Response {
    error_page(lang, StatusCode::BAD_GATEWAY, &format!("{e:#}"))
}

async fn queue(State(app): State<Arc<App>>, Extension(lang): Extension<Lang>) -> Response {
    let f = Frame::new(&app, lang).await;
    match view::Reader::new(&app, lang).queue().await {
        Ok((deals, more)) => render(&QueuePage { f, deals, more }),
        Err(e) => failed(lang, &e),
    }
}

async fn queue_rows(State(app): State<Arc<App>>, Extension(lang): Extension<Lang>) -> Response {
    let f = Frame::new(&app, lang).await;
    match view::Reader::new(&app, lang).queue().await {
        Ok((deals, more)) => render(&QueueRows { f, deals, more }),
        Err(e) => failed(lang, &e),
    }
}

async fn deal(
    State(app): State<Arc<App>>,
    Extension(lang): Extension<Lang>,
    Path(id): Path<u64>,
) -> Response {
    let f = Frame::new(&app, lang).await;
    let mut r = view::Reader::new(&app, lang);
    let (d, raw, policy) = match r.deal(id).await {
        Ok(x) => x,
        Err(e) => return failed(lang, &e),
    };
    let effect = if d.awaiting || raw.status == hanok_client::messages::deal::Status::Approved {
        match r.effect(&raw, &policy).await {
            Ok(e) => Some(e),
            Err(e) => Some(Effect {
                error: Some(format!("{e:#}")),
                lines: Vec::new(),
            }),
        }
    } else {
        None
    };
    render(&DealPage { f, d, effect })
}

/// A form that approves or rejects: the form token, whether the official confirmed, and the
/// reason of a rejection.
#[derive(Deserialize)]
struct ActionForm {
    form_token: String,
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn approve(
    State(app): State<Arc<App>>,
    Extension(lang): Extension<Lang>,
    Path(id): Path<u64>,
    Form(form): Form<ActionForm>,
) -> Response {
    act(app, lang, id, form, "approve").await
}

async fn reject(
    State(app): State<Arc<App>>,
    Extension(lang): Extension<Lang>,
    Path(id): Path<u64>,
    Form(form): Form<ActionForm>,
) -> Response {
    act(app, lang, id, form, "reject").await
}

/// The first post shows what is about to be signed and asks for confirmation; the confirmed
/// one signs, submits, waits for the block and shows the receipt.
async fn act(
    app: Arc<App>,
    lang: Lang,
    id: u64,
    form: ActionForm,
    action: &'static str,
) -> Response {
    let t = lang.text();
    if !same(&form.form_token, &app.form_token) {
        return error_page(
            lang,
            StatusCode::FORBIDDEN,
            match lang {
                Lang::En => {
                    "This form did not come from this console; open the deal again and retry."
                }
                Lang::Ko => {
                    "이 양식은 이 콘솔에서 온 것이 아닙니다. 거래를 다시 열고 시도하십시오."
                }
            },
        );
    }
    let reason = form.reason.unwrap_or_default().trim().to_string();
    if action == "reject" {
        if reason.is_empty() {
            return error_page(
                lang,
                StatusCode::BAD_REQUEST,
                match lang {
                    Lang::En => {
                        "A rejection needs a reason: say why, in words the parties will read."
                    }
                    Lang::Ko => {
                        "거절에는 사유가 필요합니다. 당사자가 읽을 수 있도록 사유를 적어 주십시오."
                    }
                },
            );
        }
        if reason.len() > MAX_REJECTION_REASON_BYTES {
            let msg = match lang {
                Lang::En => format!(
                    "The reason is {} bytes; at most {MAX_REJECTION_REASON_BYTES} fit on the ledger.",
                    reason.len()
                ),
                Lang::Ko => format!(
                    "사유가 {}바이트입니다. 원장에는 {MAX_REJECTION_REASON_BYTES}바이트까지 기록됩니다.",
                    reason.len()
                ),
            };
            return error_page(lang, StatusCode::BAD_REQUEST, &msg);
        }
    }
    let f = Frame::new(&app, lang).await;
    if form.confirm.as_deref() != Some("yes") {
        let d = match view::Reader::new(&app, lang).deal(id).await {
            Ok((d, _, _)) => d,
            Err(e) => return failed(lang, &e),
        };
        return render(&ConfirmPage {
            f,
            d,
            action,
            question: if action == "approve" {
                t.confirm_approve
            } else {
                t.confirm_reject
            },
            reason,
        });
    }
    let receipt = {
        let _one_at_a_time = app.signing.lock().await;
        let deal = app.client.deal(app.sys.deal);
        if action == "approve" {
            deal.approve(&app.signer, id).await
        } else {
            deal.reject(&app.signer, id, &reason).await
        }
    };
    match receipt {
        Ok(r) => render(&receipt_page(f, id, &r)),
        Err(e) => {
            let e = anyhow::Error::new(e).context(match (action, lang) {
                ("approve", Lang::En) => format!("approving deal {id}"),
                ("approve", Lang::Ko) => format!("거래 {id} 승인"),
                (_, Lang::En) => format!("rejecting deal {id}"),
                (_, Lang::Ko) => format!("거래 {id} 거절"),
            });
            failed(lang, &e)
        }
    }
}

fn receipt_page(f: Frame, deal_id: u64, r: &v1::Receipt) -> ReceiptPage {
    let lang = f.lang;
    ReceiptPage {
        f,
        deal_id,
        ok: r.status == v1::TxStatus::Ok as i32,
        error: r.error.clone(),
        tx_hash: hex::encode(&r.tx_hash),
        height: r.height,
        events: r
            .events
            .iter()
            .map(|e| {
                let attrs = e
                    .attributes
                    .iter()
                    .map(|a| match (a.key.as_str(), a.value.parse::<u128>()) {
                        ("price" | "amount" | "proceeds" | "payoff", Ok(v)) => {
                            format!("{}: {}", a.key, lang.won(v))
                        }
                        _ => format!("{}: {}", a.key, a.value),
                    })
                    .collect::<Vec<_>>()
                    .join(" · ");
                (e.r#type.clone(), attrs)
            })
            .collect(),
    }
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    id: String,
}

async fn parcel_search(Query(q): Query<Search>) -> Response {
    let id = q.id.trim();
    if id.is_empty() {
        return Redirect::to("/").into_response();
    }
    Redirect::to(&format!("/parcel/{}", urlencode(id))).into_response()
}

async fn parcel(
    State(app): State<Arc<App>>,
    Extension(lang): Extension<Lang>,
    Path(id): Path<String>,
) -> Response {
    let f = Frame::new(&app, lang).await;
    match view::Reader::new(&app, lang).parcel(&id).await {
        Ok(p) => render(&ParcelPage { f, p }),
        Err(e) => error_page(lang, StatusCode::NOT_FOUND, &format!("{e:#}")),
    }
}

async fn certificate(app: &App, lang: Lang, id: &str, html: bool) -> Response {
    match crate::cmd::certificate::make(&app.opts.node, &app.client, app.sys.registry, id, html)
        .await
    {
        Ok(made) => {
            let (ty, ext) = if html {
                ("text/html; charset=utf-8", "html")
            } else {
                ("application/json", "json")
            };
            let name = format!(
                "title-{}-{}.{ext}",
                id.chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    })
                    .collect::<String>(),
                made.checked.title.height
            );
            (
                [
                    (header::CONTENT_TYPE, ty.to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("inline; filename=\"{name}\""),
                    ),
                ],
                made.text,
            )
                .into_response()
        }
        Err(e) => failed(lang, &e),
    }
}

async fn certificate_html(
    State(app): State<Arc<App>>,
    Extension(lang): Extension<Lang>,
    Path(id): Path<String>,
) -> Response {
    certificate(&app, lang, &id, true).await
}

async fn certificate_json(
    State(app): State<Arc<App>>,
    Extension(lang): Extension<Lang>,
    Path(id): Path<String>,
) -> Response {
    certificate(&app, lang, &id, false).await
}

/// Server-sent events for the live pages: `block` with `{"height": h, "deal": id|null}` for
/// each committed event (a page re-renders what it shows), bounded to a few open pages.
async fn events(State(app): State<Arc<App>>, Extension(lang): Extension<Lang>) -> Response {
    let Ok(permit) = app.live_pages.clone().try_acquire_owned() else {
        return error_page(
            lang,
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live pages are open; close some tabs",
        );
    };
    let rx = app.updates.subscribe();
    let mut stopping = app.stopping.clone();
    let stop = async move {
        let _ = stopping.wait_for(|s| *s).await;
    };
    let stream = futures_util::stream::unfold((rx, permit), |(mut rx, permit)| async move {
        let data = match rx.recv().await {
            Ok(u) => serde_json::json!({"height": u.height, "deal": u.deal}).to_string(),
            // Missed some: tell the page to refresh all the same.
            Err(RecvError::Lagged(_)) => serde_json::json!({"height": 0, "deal": null}).to_string(),
            Err(RecvError::Closed) => return None,
        };
        Some((
            Ok::<_, Infallible>(Event::default().event("block").data(data)),
            (rx, permit),
        ))
    });
    Sse::new(futures_util::StreamExt::take_until(stream, stop))
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    token: String,
}

async fn login(
    State(app): State<Arc<App>>,
    Extension(lang): Extension<Lang>,
    Query(q): Query<Login>,
) -> Response {
    if !same(&q.token, &app.token) {
        return error_page(
            lang,
            StatusCode::UNAUTHORIZED,
            match lang {
                Lang::En => "This sign-in link is not the one this console printed.",
                Lang::Ko => "이 로그인 링크는 이 콘솔이 출력한 링크가 아닙니다.",
            },
        );
    }
    (
        [(
            header::SET_COOKIE,
            format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
                app.token
            ),
        )],
        Redirect::to("/"),
    )
        .into_response()
}

/// Percent-encodes a path segment.
fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
