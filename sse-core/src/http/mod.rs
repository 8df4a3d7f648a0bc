//! What every HTTP adapter shares, in terms of the `http` crate's types only: reading a
//! [`ConnectRequest`] from a request, who the client is, and the response head for a
//! stream or a rejection. No web framework is named here; `sse-axum`, `sse-warp` and
//! `sse-hyper` each convert their request to a [`RequestHead`] and their body type
//! from these responses, so the three cannot drift apart.
//!
//! # Who the client is
//!
//! Nothing the client merely claims decides who it is. By default every connection
//! gets a generated id, told to it in its first event
//! ([`CLIENT_EVENT`](crate::CLIENT_EVENT)), and the service's anonymous topics. A
//! connection gets another identity only from the application, in this order:
//!
//! 1. a [`Principal`] that the application's own authentication middleware put in
//!    the request's extensions;
//! 2. [`RequestOptions::authenticate`], a function of the request returning the
//!    principal or a rejection; with feature `jwt`, [`RequestOptions::jwt`] verifies
//!    a signed token (`jwt::JwtAuth`);
//! 3. [`RequestOptions::trust_client_id`]: an id read from a header, query parameter,
//!    cookie or path segment, as the client sent it. Anyone can send anyone's id, so
//!    this hands a client whatever is addressed to the id it names; use it only
//!    where that is harmless or a proxy in front has checked it.
//!
//! # Examples
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use sse_core::http::{ClaimedId, RequestHead, RequestOptions};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("last-event-id", HeaderValue::from_static("1700000000000-3"));
//! let head = RequestHead::new(&headers, "/events", Some("client=alice&topics=news,sport"));
//!
//! // By default the claimed id is ignored: the service generates one.
//! let request = RequestOptions::new().connect_request(&head).unwrap();
//! assert_eq!(request.requested_client_id(), None);
//!
//! let trusting = RequestOptions::new().trust_client_id(ClaimedId::Query("client".into()));
//! let request = trusting.connect_request(&head).unwrap();
//! assert_eq!(request.requested_client_id(), Some("alice"));
//! assert_eq!(request.requested_last_event_id(), Some("1700000000000-3"));
//! assert_eq!(request.requested_topics(), ["news", "sport"]);
//! ```

#[cfg(feature = "jwt")]
pub mod jwt;

use std::{borrow::Cow, fmt, sync::Arc};

use http::{
    header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, RETRY_AFTER},
    Extensions, HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode,
};

use crate::{ClientStream, ConnectRequest, Error, Principal, Rejection, Service};

/// The request header webgo's model reads a client id from, for
/// [`ClaimedId::Header`].
pub const CLIENT_ID_HEADER: &str = "sse-clientid";

/// The query parameter read as `Last-Event-ID` when the header is absent: a browser
/// cannot set headers on a fresh `EventSource`.
pub const LAST_EVENT_ID_QUERY: &str = "last_event_id";

/// The query parameter topics are read from by default (`?topics=a,b`).
pub const TOPICS_QUERY: &str = "topics";

/// Longest `Last-Event-ID` accepted; a longer one is treated as absent. The service's
/// own ids (`EPOCH-SEQ`) are under 42 bytes.
pub const MAX_LAST_EVENT_ID_LEN: usize = 256;

/// The parts of a request the adapters read: method, headers, path, query and, where
/// the framework gives them, the extensions middleware set.
///
/// # Examples
///
/// ```
/// use http::HeaderMap;
/// use sse_core::http::RequestHead;
///
/// let headers = HeaderMap::new();
/// let head = RequestHead::new(&headers, "/users/al%69ce/events", Some("a=1&b=x+y"));
/// assert_eq!(head.path_segment(1).as_deref(), Some("alice"));
/// assert_eq!(head.query_param("b").as_deref(), Some("x y"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    method: &'a Method,
    headers: &'a HeaderMap,
    path: &'a str,
    query: Option<&'a str>,
    extensions: Option<&'a Extensions>,
}

impl<'a> RequestHead<'a> {
    /// A `GET` request with these headers, path (as sent, percent-encoded) and query
    /// string, and no extensions.
    pub fn new(headers: &'a HeaderMap, path: &'a str, query: Option<&'a str>) -> Self {
        RequestHead {
            method: &Method::GET,
            headers,
            path,
            query,
            extensions: None,
        }
    }

    /// The method, headers, URI path and query, and extensions of request `parts`.
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self::new(&parts.headers, parts.uri.path(), parts.uri.query())
            .with_method(&parts.method)
            .with_extensions(&parts.extensions)
    }

    /// The same head with this method (`HEAD` is answered with the stream's headers
    /// and no body, without connecting).
    #[must_use]
    pub fn with_method(mut self, method: &'a Method) -> Self {
        self.method = method;
        self
    }

    /// The same head with these request extensions (where a [`Principal`] set by the
    /// application's middleware is looked for).
    #[must_use]
    pub fn with_extensions(mut self, extensions: &'a Extensions) -> Self {
        self.extensions = Some(extensions);
        self
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request extension of type `T`, if the framework gave the extensions and
    /// one was set.
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&'a T> {
        self.extensions?.get::<T>()
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The URI path, percent-encoded as sent.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The raw query string, if any.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The first value of header `name`, as text; invalid UTF-8 is replaced (so that a
    /// bad client id is refused with 400 by the service rather than silently ignored).
    pub fn header(&self, name: &str) -> Option<Cow<'a, str>> {
        let value = self.headers.get(name)?;
        Some(String::from_utf8_lossy(value.as_bytes()))
    }

    /// The first value of query parameter `name`, form-decoded (`+` is a space); `None`
    /// if absent or not UTF-8 once decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_params(name).next()
    }

    /// Every value of query parameter `name`, form-decoded, skipping any that is not
    /// UTF-8 once decoded.
    pub fn query_params<'n>(&self, name: &'n str) -> impl Iterator<Item = String> + 'n
    where
        'a: 'n,
    {
        self.query
            .unwrap_or("")
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .filter(move |(key, _)| decode(key, true).as_deref() == Some(name))
            .filter_map(|(_, value)| decode(value, true))
    }

    /// The value of cookie `name` from the `Cookie` headers, if present.
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        self.headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.trim_matches('"'))
    }

    /// Path segment `index` (0 is the one after the leading `/`), percent-decoded;
    /// `None` if absent or not UTF-8 once decoded.
    pub fn path_segment(&self, index: usize) -> Option<String> {
        let segment = self.path.strip_prefix('/')?.split('/').nth(index)?;
        decode(segment, false)
    }

    /// The `Last-Event-ID` header, else the `last_event_id` query parameter; a value
    /// that is empty, longer than [`MAX_LAST_EVENT_ID_LEN`], not UTF-8 or holds control
    /// characters is treated as absent, so the client starts afresh.
    pub fn last_event_id(&self) -> Option<String> {
        fn valid(id: &str) -> bool {
            (1..=MAX_LAST_EVENT_ID_LEN).contains(&id.len()) && !id.chars().any(char::is_control)
        }
        match self.headers.get("last-event-id") {
            Some(value) => std::str::from_utf8(value.as_bytes())
                .ok()
                .filter(|id| valid(id))
                .map(str::to_owned),
            None => self.query_param(LAST_EVENT_ID_QUERY).filter(|id| valid(id)),
        }
    }
}

/// Decodes `%XX` escapes (and `+` as a space in a query); `None` if the result is not
/// UTF-8. A `%` not followed by two hex digits is kept as is.
fn decode(text: &str, plus_is_space: bool) -> Option<String> {
    String::from_utf8(decode_bytes(text, plus_is_space)).ok()
}

/// [`decode`], with invalid UTF-8 replaced by U+FFFD rather than refused.
fn decode_lossy(text: &str, plus_is_space: bool) -> String {
    String::from_utf8_lossy(&decode_bytes(text, plus_is_space)).into_owned()
}

fn decode_bytes(text: &str, plus_is_space: bool) -> Vec<u8> {
    if !text.contains(['%', '+']) {
        return text.as_bytes().to_vec();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

type RequestFn<T> = Arc<dyn Fn(&RequestHead<'_>) -> T + Send + Sync>;

/// Where in the request a client *claims* its id, for
/// [`RequestOptions::trust_client_id`]. The value is whatever the client sent: any
/// client can name any id. When the source yields nothing the service generates an
/// id; when it yields an invalid one the connection is refused with 400.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClaimedId {
    /// A request header, such as [`CLIENT_ID_HEADER`].
    Header(HeaderName),
    /// A query parameter.
    Query(String),
    /// A cookie, as sent: not signed, so the client can write any value into it.
    Cookie(String),
    /// A path segment by position, 0 being the first after the leading `/` (e.g. 1 for
    /// `/users/{id}/events`). Positions count from the path the adapter sees.
    PathSegment(usize),
}

impl ClaimedId {
    fn read(&self, head: &RequestHead<'_>) -> Option<String> {
        match self {
            ClaimedId::Header(name) => head
                .headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            ClaimedId::Query(name) => head.query_param(name),
            ClaimedId::Cookie(name) => head.cookie(name).map(str::to_owned),
            ClaimedId::PathSegment(index) => head.path_segment(*index),
        }
    }
}

/// Who a request is, as decided by the application: the principal, `None` for an
/// anonymous client (a generated id and the anonymous topics), or a rejection (401,
/// 403...). See [`RequestOptions::authenticate`].
pub type AuthResult = Result<Option<Principal>, Rejection>;

/// Where the topics a client subscribes to come from.
#[derive(Clone)]
#[non_exhaustive]
pub enum TopicSource {
    /// A comma-separated query parameter, which may repeat (default: [`TOPICS_QUERY`],
    /// as in `?topics=a,b`).
    Query(String),
    /// A function of the request; build it with [`TopicSource::function`].
    Function(RequestFn<Vec<String>>),
}

impl TopicSource {
    /// The topics are whatever `f` returns for the request.
    pub fn function<F>(f: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> Vec<String> + Send + Sync + 'static,
    {
        TopicSource::Function(Arc::new(f))
    }

    fn read(&self, head: &RequestHead<'_>) -> Vec<String> {
        match self {
            // Lossy, like a header client id: a value that is not UTF-8 once decoded
            // becomes an invalid topic the service refuses with 400, rather than
            // silently subscribing the client to nothing.
            TopicSource::Query(name) => head
                .query
                .unwrap_or("")
                .split('&')
                .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
                .filter(|(key, _)| decode(key, true).as_deref() == Some(name.as_str()))
                .map(|(_, value)| decode_lossy(value, true))
                .flat_map(|list| {
                    list.split(',')
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect(),
            TopicSource::Function(f) => f(head),
        }
    }
}

impl Default for TopicSource {
    fn default() -> Self {
        TopicSource::Query(TOPICS_QUERY.to_owned())
    }
}

impl fmt::Debug for TopicSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicSource::Query(name) => f.debug_tuple("Query").field(name).finish(),
            TopicSource::Function(_) => f.write_str("Function(..)"),
        }
    }
}

/// How an adapter reads a [`ConnectRequest`] from an HTTP request: who the client is
/// (see the [module docs](self)), its topics and its resume point.
///
/// `Last-Event-ID` is always read from the header, else the `last_event_id` query
/// parameter (see [`RequestHead::last_event_id`]).
#[derive(Clone, Default)]
#[must_use]
pub struct RequestOptions {
    claimed_id: Option<ClaimedId>,
    authenticate: Option<RequestFn<AuthResult>>,
    topics: TopicSource,
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestOptions")
            .field("claimed_id", &self.claimed_id)
            .field("authenticate", &self.authenticate.as_ref().map(|_| ".."))
            .field("topics", &self.topics)
            .finish()
    }
}

impl RequestOptions {
    /// Generated client ids (nothing the client sends chooses one), topics from
    /// `?topics=`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the client to say who it is: its id is whatever `source` holds, so any
    /// client can connect as any id and receive what is sent to it. Use it only where
    /// that is harmless (a public, anonymous feed), or behind a proxy that checked
    /// the value; an authenticated identity comes from
    /// [`authenticate`](Self::authenticate) instead. A principal, when there is one,
    /// wins over it.
    pub fn trust_client_id(mut self, source: ClaimedId) -> Self {
        self.claimed_id = Some(source);
        self
    }

    /// Decides who each request is: `f` returns the [`Principal`] (its id and the
    /// topics it may read), `Ok(None)` for an anonymous client, or a rejection (401,
    /// 403...) that refuses the connection. A [`Principal`] already in the request's
    /// extensions (set by the application's middleware) is used without calling `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_core::{http::RequestOptions, ClientId, Principal, Rejection, Topic, TopicGrants};
    ///
    /// let options = RequestOptions::new().authenticate(|head| {
    ///     let Some(user) = head.header("x-verified-user") else {
    ///         return Err(Rejection::unauthorized("sign in first"));
    ///     };
    ///     let id = ClientId::new(&user).map_err(|_| Rejection::unauthorized("bad user"))?;
    ///     // The user's own topic is exact: a `*` in a name must not be a wildcard.
    ///     let inbox = Topic::new(&format!("private:{id}"))
    ///         .map_err(|_| Rejection::unauthorized("bad user"))?;
    ///     let topics = TopicGrants::patterns(["room:*"]).unwrap().with_topic(inbox);
    ///     Ok(Some(Principal::new(id, topics)))
    /// });
    /// ```
    pub fn authenticate<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> AuthResult + Send + Sync + 'static,
    {
        self.authenticate = Some(Arc::new(f));
        self
    }

    /// Authenticates with signed tokens: [`authenticate`](Self::authenticate) with
    /// [`JwtAuth::authenticate`](jwt::JwtAuth::authenticate).
    #[cfg(feature = "jwt")]
    pub fn jwt(self, auth: jwt::JwtAuth) -> Self {
        self.authenticate(move |head| auth.authenticate(head))
    }

    /// Where the topics come from (default: the `topics` query parameter).
    pub fn topics(mut self, source: TopicSource) -> Self {
        self.topics = source;
        self
    }

    /// The connect request this HTTP request asks for.
    ///
    /// # Errors
    ///
    /// The rejection of the authentication function.
    pub fn connect_request(&self, head: &RequestHead<'_>) -> Result<ConnectRequest, Rejection> {
        let mut request = ConnectRequest::new().topics(self.topics.read(head));
        let principal = match (head.extension::<Principal>(), &self.authenticate) {
            (Some(principal), _) => Some(principal.clone()),
            (None, Some(authenticate)) => authenticate(head)?,
            (None, None) => None,
        };
        if let Some(principal) = principal {
            request = request.principal(principal);
        } else if let Some(id) = self.claimed_id.as_ref().and_then(|s| s.read(head)) {
            request = request.client_id(id);
        }
        if let Some(id) = head.last_event_id() {
            request = request.last_event_id(id);
        }
        Ok(request)
    }

    /// Connects the client `head` asks for to `service`: its stream, or `None` for a
    /// `HEAD` request, which is authenticated and checked as a `GET` would be
    /// ([`Service::check`]: 401, 400, 403 alike) but registers nothing; answer it with
    /// the stream's headers and no body.
    ///
    /// # Errors
    ///
    /// The rejection of the authentication function, or of [`Service::connect`].
    pub fn connect(
        &self,
        service: &Service,
        head: &RequestHead<'_>,
    ) -> Result<Option<ClientStream>, Error> {
        let request = self.connect_request(head)?;
        if head.method == Method::HEAD {
            return service.check(&request).map(|()| None);
        }
        service.connect(request).map(Some)
    }
}

/// A `200 OK` event-stream response around `body`: `Content-Type: text/event-stream`,
/// `Cache-Control: no-cache` and `X-Accel-Buffering: no` (so proxies such as nginx do
/// not hold frames back). No `Connection` header: it is forbidden in HTTP/2, and the
/// HTTP/1.1 default (keep-alive) is what a stream wants.
pub fn stream_response<B>(body: B) -> Response<B> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}

/// The response to a refused connection: the rejection's status, its reason as a
/// `text/plain` body and, when it has one, `Retry-After` in whole seconds (rounded up).
/// Any other error becomes `500 Internal Server Error`.
pub fn error_response(error: &Error) -> Response<String> {
    let Some(rejection) = error.rejection() else {
        let mut response = text_response(format!("{error}\n"));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return response;
    };
    rejection_response(rejection)
}

/// The response to `rejection`; see [`error_response`].
pub fn rejection_response(rejection: &Rejection) -> Response<String> {
    let mut response = text_response(format!("{}\n", rejection.reason()));
    *response.status_mut() =
        StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::BAD_REQUEST);
    if let Some(after) = rejection.retry_after() {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        response.headers_mut().insert(RETRY_AFTER, secs.into());
    }
    response
}

fn text_response(body: String) -> Response<String> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn head<'a>(headers: &'a HeaderMap, path: &'a str, query: Option<&'a str>) -> RequestHead<'a> {
        RequestHead::new(headers, path, query)
    }

    #[test]
    fn client_id_sources() {
        let mut headers = HeaderMap::new();
        headers.insert(CLIENT_ID_HEADER, HeaderValue::from_static("h"));
        headers.insert(COOKIE, HeaderValue::from_static("a=1; sid=c; b=2"));
        let h = head(&headers, "/u/p%21/events", Some("id=q&x"));
        let id = |options: RequestOptions| {
            options
                .connect_request(&h)
                .unwrap()
                .requested_client_id()
                .map(str::to_owned)
        };
        let trust = |source| id(RequestOptions::new().trust_client_id(source));
        // Nothing the client sends is its id unless trusted by name.
        assert_eq!(id(RequestOptions::new()), None);
        let header = ClaimedId::Header(HeaderName::from_static(CLIENT_ID_HEADER));
        assert_eq!(trust(header).as_deref(), Some("h"));
        assert_eq!(trust(ClaimedId::Query("id".into())).as_deref(), Some("q"));
        assert_eq!(trust(ClaimedId::Cookie("sid".into())).as_deref(), Some("c"));
        assert_eq!(trust(ClaimedId::PathSegment(1)).as_deref(), Some("p!"));
        assert_eq!(trust(ClaimedId::PathSegment(9)), None);
        assert_eq!(trust(ClaimedId::Query("nope".into())), None);
    }

    fn principal(id: &str) -> Principal {
        Principal::new(
            crate::ClientId::new(id).unwrap(),
            crate::TopicGrants::none(),
        )
    }

    #[test]
    fn a_principal_wins_over_a_claimed_id() {
        let mut headers = HeaderMap::new();
        headers.insert(CLIENT_ID_HEADER, HeaderValue::from_static("claimed"));
        let trusting = RequestOptions::new()
            .trust_client_id(ClaimedId::Header(HeaderName::from_static(CLIENT_ID_HEADER)));
        let authenticated = trusting.clone().authenticate(|h| match h.header("x-user") {
            Some(u) if u == "deny" => Err(Rejection::unauthorized("no")),
            Some(u) => Ok(Some(principal(&u))),
            None => Ok(None),
        });
        let id = |options: &RequestOptions, head: &RequestHead<'_>| {
            options
                .connect_request(head)
                .map(|r| r.requested_client_id().map(str::to_owned))
        };
        let plain = head(&headers, "/", None);
        assert_eq!(id(&authenticated, &plain), Ok(Some("claimed".into())));
        headers.insert("x-user", HeaderValue::from_static("alice"));
        assert_eq!(
            id(&authenticated, &head(&headers, "/", None)),
            Ok(Some("alice".into()))
        );
        headers.insert("x-user", HeaderValue::from_static("deny"));
        assert_eq!(
            id(&authenticated, &head(&headers, "/", None))
                .unwrap_err()
                .status(),
            401
        );
        // Middleware's principal in the extensions comes first, without asking `f`.
        let mut extensions = Extensions::new();
        extensions.insert(principal("from-middleware"));
        let with_ext = head(&headers, "/", None).with_extensions(&extensions);
        assert_eq!(
            id(&authenticated, &with_ext),
            Ok(Some("from-middleware".into()))
        );
        assert_eq!(id(&trusting, &with_ext), Ok(Some("from-middleware".into())));
    }

    #[test]
    fn head_requests_register_nothing() {
        let service = Service::new();
        let headers = HeaderMap::new();
        let h = head(&headers, "/", None).with_method(&Method::HEAD);
        assert!(RequestOptions::new()
            .connect(&service, &h)
            .unwrap()
            .is_none());
        assert_eq!(service.active(), 0);
        let denied = RequestOptions::new().authenticate(|_| Err(Rejection::unauthorized("no")));
        assert!(denied.connect(&service, &h).is_err());
        // Checked as a GET would be: a topic not granted is 403 for HEAD too.
        let closed = Service::builder()
            .anonymous_topics(crate::TopicGrants::none())
            .build();
        let with_topic = head(&headers, "/", Some("topics=a")).with_method(&Method::HEAD);
        let refused = RequestOptions::new().connect(&closed, &with_topic);
        assert_eq!(
            refused.unwrap_err().rejection().map(Rejection::status),
            Some(403)
        );
        assert_eq!(closed.active(), 0);
    }

    #[test]
    fn non_utf8_header_id_is_kept_for_the_service_to_refuse() {
        let mut headers = HeaderMap::new();
        headers.insert(CLIENT_ID_HEADER, HeaderValue::from_bytes(b"\xff").unwrap());
        let req = RequestOptions::new()
            .trust_client_id(ClaimedId::Header(HeaderName::from_static(CLIENT_ID_HEADER)))
            .connect_request(&head(&headers, "/", None))
            .unwrap();
        assert_eq!(req.requested_client_id(), Some("\u{fffd}"));
    }

    #[test]
    fn last_event_id_header_then_query_and_bad_values_are_absent() {
        let none = HeaderMap::new();
        let q = |query: &str| head(&none, "/", Some(query)).last_event_id();
        assert_eq!(q("last_event_id=5-1").as_deref(), Some("5-1"));
        assert_eq!(q("last_event_id=a%0Ab"), None);
        assert_eq!(q("last_event_id=%FF"), None);
        assert_eq!(q("last_event_id="), None);
        assert_eq!(q(&format!("last_event_id={}", "1".repeat(257))), None);
        assert_eq!(
            q(&format!("last_event_id={}", "1".repeat(256))).map(|s| s.len()),
            Some(256)
        );

        let mut headers = HeaderMap::new();
        headers.insert("last-event-id", HeaderValue::from_static("7-7"));
        assert_eq!(
            head(&headers, "/", Some("last_event_id=1-1"))
                .last_event_id()
                .as_deref(),
            Some("7-7")
        );
        headers.insert(
            "last-event-id",
            HeaderValue::from_bytes(b"\xfe\xff").unwrap(),
        );
        assert_eq!(head(&headers, "/", None).last_event_id(), None);
    }

    #[test]
    fn topics_from_repeated_query_and_function() {
        let none = HeaderMap::new();
        let topics = |options: RequestOptions, h: &RequestHead<'_>| {
            options
                .connect_request(h)
                .unwrap()
                .requested_topics()
                .to_vec()
        };
        let h = head(&none, "/", Some("topics=a,b&topics=c,,&other=1"));
        assert_eq!(topics(RequestOptions::new(), &h), ["a", "b", "c"]);
        // Not UTF-8 once decoded: kept (lossily) for the service to refuse.
        let h2 = head(&none, "/", Some("topics=ok,%FF%FE"));
        assert_eq!(
            topics(RequestOptions::new(), &h2),
            ["ok", "\u{fffd}\u{fffd}"]
        );
        let f = TopicSource::function(|_| vec!["x".into()]);
        assert_eq!(topics(RequestOptions::new().topics(f), &h), ["x"]);
    }

    #[test]
    fn decoding_never_fails_on_bad_escapes() {
        assert_eq!(decode("%", true).as_deref(), Some("%"));
        assert_eq!(decode("%4", true).as_deref(), Some("%4"));
        assert_eq!(decode("%zz+%41", true).as_deref(), Some("%zz A"));
        assert_eq!(decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(decode("%C3%A9", false).as_deref(), Some("é"));
    }

    #[test]
    fn responses() {
        let r = stream_response(());
        assert_eq!(r.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
        assert_eq!(r.headers()["x-accel-buffering"], "no");
        assert!(r.headers().get("connection").is_none());

        let r = rejection_response(&Rejection::too_many_requests(
            "busy",
            Duration::from_millis(1500),
        ));
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[RETRY_AFTER], "2");
        assert_eq!(r.body(), "busy\n");
        assert_eq!(error_response(&Error::NotConnected).status(), 500);
    }
}
