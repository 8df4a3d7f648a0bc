//! The parts of an HTTP request an event stream is read from.

use std::borrow::Cow;

use cookie::Cookie;
use http::{header::COOKIE, Extensions, HeaderMap, Method};
use percent_encoding::percent_decode_str;

/// The request header webgo's model reads a client id from, for
/// [`ClaimedId::Header`](crate::ClaimedId::Header).
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
/// use sse_http::RequestHead;
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

    /// The method, headers, URI path and query, and extensions of `request` (whose
    /// body is not read).
    pub fn from_request<B>(request: &'a http::Request<B>) -> Self {
        let uri = request.uri();
        Self::new(request.headers(), uri.path(), uri.query())
            .with_method(request.method())
            .with_extensions(request.extensions())
    }

    /// The same head with this method (`HEAD` is answered with the stream's headers
    /// and no body, without connecting).
    #[must_use]
    pub fn with_method(mut self, method: &'a Method) -> Self {
        self.method = method;
        self
    }

    /// The same head with these request extensions (where a [`Principal`](sse_core::Principal) set by the
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

    /// The first value of query parameter `name` that is UTF-8 once form-decoded
    /// (`+` is a space); `None` if there is none.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_params(name).next()
    }

    /// Every value of query parameter `name`, form-decoded, skipping any that is not
    /// UTF-8 once decoded (the decoder makes such bytes U+FFFD, so a value holding
    /// U+FFFD is skipped too).
    pub fn query_params<'n>(&self, name: &'n str) -> impl Iterator<Item = String> + 'n
    where
        'a: 'n,
    {
        self.query_params_lossy(name)
            .filter(|value| !value.contains(char::REPLACEMENT_CHARACTER))
    }

    /// Every value of query parameter `name`, form-decoded, with bytes that are not
    /// UTF-8 as U+FFFD: for values the service then refuses, rather than ignores.
    pub(crate) fn query_params_lossy<'n>(&self, name: &'n str) -> impl Iterator<Item = String> + 'n
    where
        'a: 'n,
    {
        form_urlencoded::parse(self.query.unwrap_or("").as_bytes())
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The value of cookie `name` from the `Cookie` headers, without surrounding
    /// double quotes, if present.
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        self.headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|cookie| cookie.name() == name)
            .and_then(|cookie| cookie.value_raw())
            .map(|value| value.trim_matches('"'))
    }

    /// Path segment `index` (0 is the one after the leading `/`), percent-decoded;
    /// `None` if absent or not UTF-8 once decoded.
    pub fn path_segment(&self, index: usize) -> Option<String> {
        let segment = self.path.strip_prefix('/')?.split('/').nth(index)?;
        percent_decode_str(segment)
            .decode_utf8()
            .ok()
            .map(Cow::into_owned)
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

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn head<'a>(headers: &'a HeaderMap, path: &'a str, query: Option<&'a str>) -> RequestHead<'a> {
        RequestHead::new(headers, path, query)
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
    fn decoding_never_fails_on_bad_escapes() {
        let none = HeaderMap::new();
        let q = |query: &str| RequestHead::new(&none, "/", Some(query)).query_param("a");
        assert_eq!(q("a=%").as_deref(), Some("%"));
        assert_eq!(q("a=%4").as_deref(), Some("%4"));
        assert_eq!(q("a=%zz+%41").as_deref(), Some("%zz A"));
        assert_eq!(q("a=%FF"), None, "not UTF-8: skipped");
        assert_eq!(q("a=%FF&a=ok").as_deref(), Some("ok"));
        assert_eq!(q("b=1&a=2&a=3").as_deref(), Some("2"));
        let p = |path: &str| RequestHead::new(&none, path, None).path_segment(0);
        assert_eq!(p("/a+b").as_deref(), Some("a+b"));
        assert_eq!(p("/%C3%A9").as_deref(), Some("é"));
        assert_eq!(p("/%FF"), None);
    }

    #[test]
    fn cookies_by_name_unquoted() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; sid=\"c\"; b=2"));
        headers.append(COOKIE, HeaderValue::from_static("late=4"));
        let h = RequestHead::new(&headers, "/", None);
        assert_eq!(h.cookie("sid"), Some("c"));
        assert_eq!(h.cookie("late"), Some("4"));
        assert_eq!(h.cookie("nope"), None);
    }
}
