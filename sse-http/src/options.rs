//! How a connect request is read from an HTTP request: who the client is, its topics
//! and its resume point.

use std::{fmt, sync::Arc};

use http::{HeaderName, Method};
use sse_core::{ClientStream, ConnectRequest, Error, Principal, Rejection, Service};

#[cfg(feature = "jwt")]
use crate::jwt;
use crate::{RequestHead, TOPICS_QUERY};

type RequestFn<T> = Arc<dyn Fn(&RequestHead<'_>) -> T + Send + Sync>;

/// Where in the request a client *claims* its id, for
/// [`RequestOptions::trust_client_id`]. The value is whatever the client sent: any
/// client can name any id. When the source yields nothing the service generates an
/// id; when it yields an invalid one the connection is refused with 400.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClaimedId {
    /// A request header, such as [`CLIENT_ID_HEADER`](crate::CLIENT_ID_HEADER).
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
                .headers()
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
                .query_params_lossy(name)
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
/// (see the [crate docs](crate)), its topics and its resume point.
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
    /// wins over it. Default: nothing the client sends is its id.
    pub fn trust_client_id(mut self, source: ClaimedId) -> Self {
        self.claimed_id = Some(source);
        self
    }

    /// Decides who each request is: `f` returns the [`Principal`] (its id and the
    /// topics it may read), `Ok(None)` for an anonymous client, or a rejection
    /// (`Unauthenticated`, `Forbidden`...) that refuses the connection. A [`Principal`] already in the request's
    /// extensions (set by the application's middleware) is used without calling `f`.
    /// Default: none; every client without such a principal is anonymous.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_core::{ClientId, Principal, Rejection, Topic, TopicGrants};
    /// use sse_http::RequestOptions;
    ///
    /// let options = RequestOptions::new().authenticate(|head| {
    ///     let Some(user) = head.header("x-verified-user") else {
    ///         return Err(Rejection::unauthenticated("sign in first"));
    ///     };
    ///     let id = ClientId::new(&user).map_err(|_| Rejection::unauthenticated("bad user"))?;
    ///     // The user's own topic is exact: a `*` in a name must not be a wildcard.
    ///     let inbox = Topic::new(&format!("private:{id}"))
    ///         .map_err(|_| Rejection::unauthenticated("bad user"))?;
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
        if head.method() == Method::HEAD {
            return service.check(&request).map(|()| None);
        }
        service.connect(request).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use http::{header::COOKIE, Extensions, HeaderMap, HeaderValue};

    use super::*;
    use crate::CLIENT_ID_HEADER;

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
            sse_core::ClientId::new(id).unwrap(),
            sse_core::TopicGrants::none(),
        )
    }

    #[test]
    fn a_principal_wins_over_a_claimed_id() {
        let mut headers = HeaderMap::new();
        headers.insert(CLIENT_ID_HEADER, HeaderValue::from_static("claimed"));
        let trusting = RequestOptions::new()
            .trust_client_id(ClaimedId::Header(HeaderName::from_static(CLIENT_ID_HEADER)));
        let authenticated = trusting.clone().authenticate(|h| match h.header("x-user") {
            Some(u) if u == "deny" => Err(Rejection::unauthenticated("no")),
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
                .kind(),
            sse_core::RejectionKind::Unauthenticated
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
        let denied = RequestOptions::new().authenticate(|_| Err(Rejection::unauthenticated("no")));
        assert!(denied.connect(&service, &h).is_err());
        // Checked as a GET would be: a topic not granted is 403 for HEAD too.
        let closed = Service::builder()
            .anonymous_topics(sse_core::TopicGrants::none())
            .build();
        let with_topic = head(&headers, "/", Some("topics=a")).with_method(&Method::HEAD);
        let refused = RequestOptions::new().connect(&closed, &with_topic);
        assert_eq!(
            refused
                .unwrap_err()
                .rejection()
                .map(|r| crate::status(r.kind()).as_u16()),
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
}
