//! The demo's application, free of any web framework: the routes other than
//! `GET /events` (which each adapter crate serves), the once-a-second clock, and the
//! page. `src/bin/demo.rs` binds it to axum, warp or hyper with a few lines each.
//!
//! | route | what it does |
//! | --- | --- |
//! | `GET /` | the page ([`PAGE`]) |
//! | `GET /events` | not here: the adapter's stream, read with [`Demo::request_options`] |
//! | `POST /login` | body: a user name; sets the session cookie ([`session`]) |
//! | `POST /logout` | clears it |
//! | `POST /broadcast[?event=NAME]` | body (text) to every client, as is |
//! | `POST /topics/{topic}[?from=NAME]` | `{"room","from","verified","text"}` as event `chat` to the topic |
//! | `POST /clients/{id}[?from=NAME]` | `{"from","verified","text"}` as event `dm` to that client's connections; 404 if absent |
//! | `POST /subscriptions/{topic}[?client=ID]` | subscribes a connected client, live |
//! | `DELETE /subscriptions/{topic}[?client=ID]` | unsubscribes it |
//! | `GET /stats` | `{"active","adapter","backplane","latest_id"}` |
//! | `GET /metrics` | the service's counters (`sse_*`) and the backplane's (`sse_redis_*`) in Prometheus's text format, every second |
//!
//! # Who is who
//!
//! `GET /events` connects a signed-in user as their name (all their tabs, with
//! topics `room:*` and their inbox `private:{name}`), and anyone else under a
//! generated id that the page learns from the first event, with topics `room:*`.
//! Nothing in the query or headers chooses an identity. The sender of a message is the
//! signed-in user (`verified: true`), else the `?from=` name as given. A live
//! subscription changes the signed-in user's connections, or, without a session, the
//! connection whose generated id is `?client=`: that id is known only to its page, and
//! a user name can never be one.
//!
//! Input is checked before anything is sent: a body over [`MAX_BODY`] bytes is refused
//! with 413; a body that is empty or not UTF-8, an invalid topic, client id, user name
//! or event name, or a sender name over 64 characters with 400. Every refusal is a
//! one-line `text/plain` reason.

pub mod session;

use std::{
    fmt,
    future::Future,
    pin::pin,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt};
use http::HeaderMap;
use serde_json::json;
use session::{is_user_name, Sessions};
use sse_codec::{Event, EventType};
use sse_core::{
    ClientId, Error, Service, ServiceBuilder, Topic, TopicGrants, CLIENT_EVENT, REPLACED_EVENT,
    RESET_EVENT,
};
use sse_http::{RequestHead, RequestOptions};
use sse_redis::RedisBackplane;

/// The page served at `/`: plain HTML and JavaScript with the browser's `EventSource`.
pub const PAGE: &str = include_str!("index.html");

/// Largest request body accepted, in bytes (64 KiB); a larger one gets 413.
pub const MAX_BODY: usize = 64 * 1024;

/// How long a request body may take to arrive, by default; then 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest sender name (`from`), in characters.
pub const MAX_NAME: usize = 64;

/// The event type of the clock sent every second.
pub const CLOCK_EVENT: &str = "clock";
/// The event type of a room message.
pub const CHAT_EVENT: &str = "chat";
/// The event type of a direct message.
pub const DM_EVENT: &str = "dm";

/// The reconnection delay the demo asks browsers for: short, so a restart is brief.
pub const RETRY: Duration = Duration::from_secs(1);

/// The demo's service settings: a `retry` hint of [`RETRY`] on connect, anonymous
/// clients limited to the `room:*` topics (so `private:*` is for its user only), the
/// rest defaults (several tabs per user, a history of 65,536 events, 32 MiB or 5
/// minutes for resume).
pub fn service_builder() -> ServiceBuilder {
    let mut builder = Service::builder();
    builder
        .retry_hint(Some(RETRY))
        .anonymous_topics(TopicGrants::patterns(["room:*"]).expect("a valid pattern"));
    builder
}

/// An answer to one request: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

impl Reply {
    fn new(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Reply {
            status,
            headers: vec![
                ("content-type", content_type.to_owned()),
                ("cache-control", "no-store".to_owned()),
            ],
            body: body.into(),
        }
    }

    fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(status, "application/json", value.to_string())
    }

    /// A `text/plain` reason, as every refusal is.
    fn text(status: u16, reason: impl fmt::Display) -> Self {
        Self::new(status, "text/plain; charset=utf-8", format!("{reason}\n"))
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        let mut reply = Self::text(405, format_args!("method not allowed; use {allow}"));
        reply.headers.push(("allow", allow.to_owned()));
        reply
    }

    fn with_cookie(mut self, set_cookie: String) -> Self {
        self.headers.push(("set-cookie", set_cookie));
        self
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The response headers, `content-type` first.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, taken out.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// As an `http` response; map its body to the framework's body type.
    pub fn into_response(self) -> http::Response<Bytes> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::OK);
        for (name, value) in self.headers {
            // Every value is the demo's own text or a token: always a valid header.
            if let Ok(value) = http::HeaderValue::try_from(value) {
                response
                    .headers_mut()
                    .append(http::HeaderName::from_static(name), value);
            }
        }
        response
    }
}

/// Where the demo publishes: straight into its own service, or through Redis so that
/// every demo process on the same Redis is one service.
#[derive(Debug, Clone)]
enum Publisher {
    Local,
    Redis(RedisBackplane),
}

/// The demo application; cheap to clone.
///
/// # Examples
///
/// ```
/// use examples::demo::{session::Sessions, Demo};
/// use http::HeaderMap;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let sessions = Sessions::new(b"a key for this example, 32 bytes").unwrap();
/// let demo = Demo::new(examples::demo::service_builder().build(), sessions, "none");
/// let none = HeaderMap::new();
/// let body = futures_util::stream::iter([Ok::<_, std::io::Error>(&b"hello"[..])]);
/// let reply = demo.handle("POST", "/broadcast", None, &none, body).await;
/// assert_eq!(reply.status(), 200);
///
/// let empty = futures_util::stream::empty::<Result<&[u8], std::io::Error>>();
/// let reply = demo.handle("POST", "/topics/a,b", None, &none, empty).await;
/// assert_eq!(reply.status(), 400);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct Demo {
    service: Service,
    publisher: Publisher,
    sessions: Sessions,
    adapter: &'static str,
    body_timeout: Duration,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl Demo {
    /// The demo over a local `service`, signing sessions with `sessions`; `adapter`
    /// names the web framework in `/stats`.
    pub fn new(service: Service, sessions: Sessions, adapter: &'static str) -> Self {
        Demo {
            service,
            publisher: Publisher::Local,
            sessions,
            adapter,
            body_timeout: BODY_TIMEOUT,
            metrics: None,
        }
    }

    /// The demo publishing through `backplane`, so that every demo process on the same
    /// Redis stream reaches every client and resumes any of them.
    pub fn with_backplane(
        backplane: RedisBackplane,
        sessions: Sessions,
        adapter: &'static str,
    ) -> Self {
        Demo {
            service: backplane.service().clone(),
            publisher: Publisher::Redis(backplane),
            sessions,
            adapter,
            body_timeout: BODY_TIMEOUT,
            metrics: None,
        }
    }

    /// How long a request body may take to arrive (default [`BODY_TIMEOUT`]).
    #[must_use]
    pub fn body_timeout(mut self, deadline: Duration) -> Self {
        self.body_timeout = deadline;
        self
    }

    /// Serves `GET /metrics` from `prometheus`, the recorder installed for the
    /// process, which the service reports to every second from now on (inside a tokio
    /// runtime).
    pub fn metrics(mut self, prometheus: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        // The task ends with the service (or the backplane, which reports both).
        let every = Duration::from_secs(1);
        drop(match &self.publisher {
            Publisher::Local => self.service.report_metrics(every),
            Publisher::Redis(backplane) => backplane.report_metrics(every),
        });
        self.metrics = Some(prometheus);
        self
    }

    /// The service to hand to the adapter for `GET /events`.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// How the demo's `GET /events` reads a request: the signed-in user from the
    /// session cookie (a bad cookie is refused with 401), else an anonymous client
    /// with a generated id; topics from `?topics=a,b`; `Last-Event-ID` from the
    /// header, else `?last_event_id=`.
    pub fn request_options(&self) -> RequestOptions {
        RequestOptions::new().jwt(self.sessions.auth().clone())
    }

    /// Answers every route but `GET /events`. `path` is as sent (percent-encoded),
    /// `query` the raw query string; `body` is read only by the `POST` routes, and at
    /// most [`MAX_BODY`] + 1 bytes of it.
    ///
    /// The request's parts are read before this returns, so the future borrows
    /// nothing from it.
    pub fn handle<S, B, E>(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: S,
    ) -> impl Future<Output = Reply> + Send + 'static
    where
        S: Stream<Item = Result<B, E>> + Send + 'static,
        B: Buf + Send,
        E: fmt::Display + Send,
    {
        let route = route(method, path, query);
        // Only the routes that act as someone read the session; signing in replaces
        // whatever session there was.
        let user = match &route {
            Ok(Route::Page | Route::Stats | Route::Logout | Route::Login) | Err(_) => Ok(None),
            Ok(_) => self.sessions.user(headers),
        };
        let demo = self.clone();
        async move {
            let route = match route {
                Ok(route) => route,
                Err(reply) => return reply,
            };
            match route {
                Route::Page => return Reply::new(200, "text/html; charset=utf-8", PAGE),
                Route::Stats => return demo.stats(),
                Route::Metrics => {
                    return match &demo.metrics {
                        Some(prometheus) => Reply::new(
                            200,
                            "text/plain; version=0.0.4; charset=utf-8",
                            prometheus.render(),
                        ),
                        None => Reply::text(404, "metrics are off"),
                    }
                }
                Route::Logout => {
                    return Reply::json(200, &json!({})).with_cookie(Sessions::sign_out())
                }
                _ => {}
            }
            // A session that fails verification is refused, not taken as no session.
            let user = match user {
                Ok(user) => user,
                Err(reason) => {
                    return Reply::text(401, format_args!("session refused: {reason}"));
                }
            };
            let text = match route {
                Route::Subscription(topic, client, add) => {
                    return demo.subscription(user, client, topic, add)
                }
                _ => match read_text(body, demo.body_timeout).await {
                    Ok(text) => text,
                    Err(reply) => return reply,
                },
            };
            let from = |given: String| match &user {
                Some(user) => (user.to_string(), true),
                None => (given, false),
            };
            match route {
                Route::Login => demo.login(text),
                Route::Broadcast(event) => demo.broadcast(event, text).await,
                Route::Chat(topic, given) => demo.chat(topic, from(given), text).await,
                Route::Direct(id, given) => demo.direct(id, from(given), text).await,
                Route::Page
                | Route::Stats
                | Route::Metrics
                | Route::Logout
                | Route::Subscription(..) => {
                    unreachable!("answered above")
                }
            }
        }
    }

    fn login(&self, name: String) -> Reply {
        let name = name.trim();
        if !is_user_name(name) {
            return Reply::text(
                400,
                "invalid user name: 1 to 32 ASCII letters, digits, _ or -",
            );
        }
        Reply::json(200, &json!({ "user": name })).with_cookie(self.sessions.sign_in(name))
    }

    /// A live subscription change: the signed-in user's connections, or the anonymous
    /// connection with generated id `client`.
    fn subscription(
        &self,
        user: Option<ClientId>,
        client: Option<ClientId>,
        topic: Topic,
        add: bool,
    ) -> Reply {
        let id = match (user, client) {
            (Some(user), _) => user,
            (None, Some(id)) if !is_user_name(id.as_str()) => id,
            (None, Some(_)) => {
                return Reply::text(403, "sign in as that user to change their subscriptions")
            }
            (None, None) => {
                return Reply::text(400, "sign in, or name your connection with ?client=ID")
            }
        };
        let changed = if add {
            self.service.subscribe(&id, &[topic])
        } else {
            self.service.unsubscribe(&id, &[topic])
        };
        match changed {
            Ok(n) => Reply::json(200, &json!({ "client": id.as_str(), "connections": n })),
            Err(Error::NotConnected) => {
                Reply::text(404, format_args!("client {id} is not connected here"))
            }
            Err(e) => match e.rejection() {
                Some(r) => Reply::text(sse_http::status(r.kind()).as_u16(), r.reason()),
                None => Reply::text(500, e),
            },
        }
    }

    fn stats(&self) -> Reply {
        let backplane = match self.publisher {
            Publisher::Local => "memory",
            Publisher::Redis(_) => "redis",
        };
        Reply::json(
            200,
            &json!({
                "active": self.service.active(),
                "adapter": self.adapter,
                "backplane": backplane,
                "latest_id": self.service.latest_id().to_string(),
            }),
        )
    }

    async fn broadcast(&self, event: Option<EventType>, text: String) -> Reply {
        let mut message = Event::message(text);
        if let Some(event) = event {
            message = message.with_event(event);
        }
        match &self.publisher {
            Publisher::Local => match self.service.broadcast(message) {
                Ok(sent) => sent_reply(sent.id.map(|id| id.to_string()), Some(sent.queued)),
                Err(e) => Reply::text(503, e),
            },
            Publisher::Redis(backplane) => match backplane.broadcast(message).await {
                Ok(id) => sent_reply(Some(id.to_string()), None),
                Err(e) => Reply::text(503, e),
            },
        }
    }

    async fn chat(&self, topic: Topic, (from, verified): (String, bool), text: String) -> Reply {
        let data =
            json!({ "room": topic.as_str(), "from": from, "verified": verified, "text": text });
        let message = Event::message(data.to_string()).with_event(known_type(CHAT_EVENT));
        match &self.publisher {
            Publisher::Local => match self.service.publish(&topic, message) {
                Ok(sent) => sent_reply(sent.id.map(|id| id.to_string()), Some(sent.queued)),
                Err(e) => Reply::text(503, e),
            },
            Publisher::Redis(backplane) => match backplane.publish(&topic, message).await {
                Ok(id) => sent_reply(Some(id.to_string()), None),
                Err(e) => Reply::text(503, e),
            },
        }
    }

    async fn direct(&self, id: ClientId, (from, verified): (String, bool), text: String) -> Reply {
        let data = json!({ "from": from, "verified": verified, "text": text });
        let message = Event::message(data.to_string()).with_event(known_type(DM_EVENT));
        match &self.publisher {
            Publisher::Local => match self.service.send_to(&id, message) {
                Ok(sent) => sent_reply(None, Some(sent.queued)),
                Err(Error::NotConnected) => {
                    Reply::text(404, format_args!("client {id} is not connected"))
                }
                Err(e) => Reply::text(503, e),
            },
            // Always through Redis: a user's tabs may be connected to several
            // processes, this one included. Redis says how many processes hold it.
            Publisher::Redis(backplane) => match backplane.send_to(&id, message).await {
                Ok(0) => Reply::text(404, format_args!("client {id} is not connected")),
                Ok(processes) => {
                    let mut body = serde_json::Map::new();
                    body.insert("processes".into(), processes.into());
                    Reply::json(200, &body.into())
                }
                Err(e) => Reply::text(503, e),
            },
        }
    }

    /// Sends the clock to every client of this process now: event [`CLOCK_EVENT`] with
    /// `{"time": ISO 8601 UTC, "unix_ms", "active"}`. Returns the number of clients.
    ///
    /// Each client gets it as a direct event, without an id: ticks are not worth
    /// replaying, must not push chat out of the history, and with Redis each
    /// process reports its own clients rather than every process ticking everywhere.
    pub fn tick(&self) -> usize {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let clients = self.service.clients();
        let mut ids: Vec<&ClientId> = clients.iter().map(|c| c.id()).collect();
        ids.sort();
        ids.dedup();
        // The page's live panel: events/s from two ticks' `published`, and drops.
        let metrics = self.service.metrics();
        let data = json!({
            "time": iso8601(now),
            "unix_ms": now.as_millis() as u64,
            "active": clients.len(),
            "published": metrics.published,
            "dropped": metrics.dropped_oldest + metrics.dropped_newest + metrics.disconnected_slow,
        });
        let tick = Event::message(data.to_string()).with_event(known_type(CLOCK_EVENT));
        for id in &ids {
            // A client gone since the snapshot is simply skipped.
            let _ = self.service.send_to(id, tick.clone());
        }
        clients.len()
    }

    /// Calls [`Demo::tick`] every second, forever.
    pub async fn run_clock(self) {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.tick();
        }
    }
}

/// What a request asks for, validated, owning its parts.
enum Route {
    Page,
    Stats,
    Metrics,
    Login,
    Logout,
    Broadcast(Option<EventType>),
    Chat(Topic, String),
    Direct(ClientId, String),
    /// The topic, the `?client=` id, and whether to subscribe (else unsubscribe).
    Subscription(Topic, Option<ClientId>, bool),
}

fn route(method: &str, path: &str, query: Option<&str>) -> Result<Route, Reply> {
    let headers = HeaderMap::new();
    let head = RequestHead::new(&headers, path, query);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let route = match (method, segments.as_slice()) {
        ("GET" | "HEAD", [""]) => Route::Page,
        ("GET" | "HEAD", ["stats"]) => Route::Stats,
        ("GET" | "HEAD", ["metrics"]) => Route::Metrics,
        ("POST", ["login"]) => Route::Login,
        ("POST", ["logout"]) => Route::Logout,
        (method @ ("POST" | "DELETE"), ["subscriptions", _]) => {
            let client = match head.query_param("client") {
                None => None,
                Some(id) => Some(ClientId::new(&id).map_err(|_| {
                    Reply::text(
                        400,
                        "invalid client id: use 1 to 128 visible ASCII characters",
                    )
                })?),
            };
            Route::Subscription(path_topic(&head)?, client, method == "POST")
        }
        ("POST", ["broadcast"]) => Route::Broadcast(event_type(head.query_param("event"))?),
        ("POST", ["topics", _]) => {
            Route::Chat(path_topic(&head)?, sender(head.query_param("from"))?)
        }
        ("POST", ["clients", _]) => {
            let id = head.path_segment(1).and_then(|id| ClientId::new(&id).ok());
            let id = id.ok_or_else(|| {
                Reply::text(
                    400,
                    "invalid client id: use 1 to 128 visible ASCII characters",
                )
            })?;
            Route::Direct(id, sender(head.query_param("from"))?)
        }
        // `/events` reaches here only if the glue did not route it to the adapter.
        (_, [""] | ["stats"] | ["metrics"] | ["events"]) => {
            return Err(Reply::method_not_allowed("GET"))
        }
        (_, ["broadcast"] | ["topics", _] | ["clients", _] | ["login"] | ["logout"]) => {
            return Err(Reply::method_not_allowed("POST"))
        }
        (_, ["subscriptions", _]) => return Err(Reply::method_not_allowed("POST, DELETE")),
        _ => return Err(Reply::text(404, "not found")),
    };
    Ok(route)
}

/// The topic in `/{route}/{topic}`.
fn path_topic(head: &RequestHead<'_>) -> Result<Topic, Reply> {
    let topic = head.path_segment(1).and_then(|t| Topic::new(&t).ok());
    topic.ok_or_else(|| {
        Reply::text(
            400,
            "invalid topic: use 1 to 128 visible ASCII characters, no comma",
        )
    })
}

fn sent_reply(id: Option<String>, queued: Option<usize>) -> Reply {
    let mut body = serde_json::Map::new();
    if let Some(id) = id {
        body.insert("id".into(), id.into());
    }
    if let Some(queued) = queued {
        body.insert("queued".into(), queued.into());
    }
    Reply::json(200, &body.into())
}

fn known_type(name: &'static str) -> EventType {
    // The demo's own names are constants without line breaks.
    EventType::new(name).unwrap_or_else(|_| unreachable!("{name} is a valid event type"))
}

/// `?event=`: absent means the default `message`. Refused: line breaks (they would
/// forge fields), other control characters, empty or over 64 bytes, and the demo's own
/// names, which the page would misread.
fn event_type(name: Option<String>) -> Result<Option<EventType>, Reply> {
    let Some(name) = name else { return Ok(None) };
    if name.contains(['\r', '\n']) {
        return Err(Reply::text(400, "invalid event name: no line breaks"));
    }
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(Reply::text(
            400,
            "invalid event name: 1 to 64 bytes, no control characters",
        ));
    }
    let reserved = [
        CLOCK_EVENT,
        CHAT_EVENT,
        DM_EVENT,
        RESET_EVENT,
        CLIENT_EVENT,
        REPLACED_EVENT,
    ];
    if reserved.contains(&name.as_str()) {
        return Err(Reply::text(
            400,
            format_args!("invalid event name: {name} is reserved for the demo's own events"),
        ));
    }
    EventType::new(name)
        .map(Some)
        .map_err(|e| Reply::text(400, format_args!("invalid event name: {e}")))
}

/// `?from=`: the sender's name shown beside a message; `anonymous` when absent.
fn sender(name: Option<String>) -> Result<String, Reply> {
    let name = name.unwrap_or_default();
    let name = name.trim();
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(Reply::text(
            400,
            format_args!(
                "invalid sender name: at most {MAX_NAME} characters, no control characters"
            ),
        ));
    }
    Ok(if name.is_empty() { "anonymous" } else { name }.to_owned())
}

/// Reads at most [`MAX_BODY`] bytes of a message body; stops reading as soon as the
/// body is over it (a bound on memory whatever the client sends or claims), or when
/// it has not all come within `deadline` (a bound on how long a connection is held:
/// 408, and the connection closed).
async fn read_text<S, B, E>(body: S, deadline: Duration) -> Result<String, Reply>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: fmt::Display,
{
    match tokio::time::timeout(deadline, read_text_now(body)).await {
        Ok(read) => read,
        Err(_) => {
            let mut reply = Reply::text(
                408,
                format_args!(
                    "the body did not arrive within {} s",
                    deadline.as_secs_f32()
                ),
            );
            reply.headers.push(("connection", "close".to_owned()));
            Err(reply)
        }
    }
}

async fn read_text_now<S, B, E>(body: S) -> Result<String, Reply>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: fmt::Display,
{
    let mut body = pin!(body);
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let mut chunk =
            chunk.map_err(|e| Reply::text(400, format_args!("could not read the body: {e}")))?;
        if bytes.len() + chunk.remaining() > MAX_BODY {
            return Err(Reply::text(
                413,
                format_args!("message too large: at most {MAX_BODY} bytes"),
            ));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            bytes.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    let text =
        String::from_utf8(bytes).map_err(|_| Reply::text(400, "message is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(Reply::text(400, "empty message"));
    }
    Ok(text)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time since the Unix epoch (proleptic Gregorian, UTC).
fn iso8601(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(Duration::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(Duration::from_secs(951_782_400 + 3_723)),
            "2000-02-29T01:02:03Z"
        );
        assert_eq!(
            iso8601(Duration::from_secs(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn event_names() {
        assert!(matches!(event_type(None), Ok(None)));
        assert!(matches!(event_type(Some("news".into())), Ok(Some(_))));
        for bad in ["a\nb", "a\rb", "", "clock", "sse-reset", "a\u{7}b"] {
            let reply = event_type(Some(bad.into())).unwrap_err();
            assert_eq!(reply.status(), 400, "{bad:?}");
        }
    }
}
