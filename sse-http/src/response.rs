//! The response: a stream's head and body, or a refusal's status and text, and
//! [`Endpoint`], which makes one of a request.

#[cfg(feature = "server")]
use std::sync::{Arc, Mutex};
use std::{
    convert::Infallible,
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_core::Stream;
use http::{
    header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER},
    HeaderName, HeaderValue, Method, Response, StatusCode,
};
use http_body::{Frame, SizeHint};
use sse_core::{ClientStream, Error, Rejection, RejectionKind, Service};

use crate::{RequestHead, RequestOptions};

/// Connects the requests it is given to a [`Service`], reading each with its
/// [`RequestOptions`]: what every adapter's endpoint does, whatever the framework.
///
/// Cheap to clone: clones share the service.
///
/// # Examples
///
/// ```
/// use http::{HeaderMap, Method};
/// use sse_http::{Endpoint, RequestHead};
///
/// let endpoint = Endpoint::new(sse_core::Service::new());
/// let headers = HeaderMap::new();
/// let response = endpoint.respond(&RequestHead::new(&headers, "/events", None));
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// assert_eq!(endpoint.service().active(), 1);
///
/// let post = RequestHead::new(&headers, "/events", None).with_method(&Method::POST);
/// assert_eq!(endpoint.respond(&post).status(), 405);
/// ```
#[derive(Debug, Clone)]
pub struct Endpoint {
    service: Service,
    options: RequestOptions,
}

impl Endpoint {
    /// Streams `service`'s events, reading requests with [`RequestOptions::new`].
    pub fn new(service: Service) -> Self {
        Self::with_options(service, RequestOptions::new())
    }

    /// Streams `service`'s events, reading requests with `options`.
    pub fn with_options(service: Service, options: RequestOptions) -> Self {
        Endpoint { service, options }
    }

    /// The service events come from.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// How requests are read.
    pub fn options(&self) -> &RequestOptions {
        &self.options
    }

    /// Connects the client `head` asks for: `200` with its event stream (no body for
    /// `HEAD`, and no client registered), the refusal's status and text, or 405 for a
    /// method other than `GET` and `HEAD`.
    pub fn respond(&self, head: &RequestHead<'_>) -> Response<SseBody> {
        if head.method() != Method::GET && head.method() != Method::HEAD {
            let mut response = text_response("use GET\n".to_owned());
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response.map(SseBody::full);
        }
        connect_response(self.options.connect(&self.service, head))
    }
}

/// With feature `server`: an endpoint is a hyper service answering every request,
/// which [`Server`](crate::Server) can run as it is.
#[cfg(feature = "server")]
impl<B> hyper::service::Service<http::Request<B>> for Endpoint {
    type Response = Response<SseBody>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<SseBody>, Infallible>>;

    fn call(&self, request: http::Request<B>) -> Self::Future {
        std::future::ready(Ok(self.respond(&RequestHead::from_request(&request))))
    }
}

/// The response to a connect's outcome ([`RequestOptions::connect`]): `200` with the
/// client's event stream, `200` with no body for `HEAD` (`Ok(None)`), or the error's
/// status and text ([`error_response`]).
///
/// With feature `server`, the stream can also be taken from the response by
/// [`Server`](crate::Server), which then writes it itself; see there.
pub fn connect_response(outcome: Result<Option<ClientStream>, Error>) -> Response<SseBody> {
    match outcome {
        #[cfg(feature = "server")]
        Ok(Some(stream)) => {
            let slot = StreamSlot(Arc::new(Mutex::new(Some(stream))));
            let mut response = stream_response(SseBody {
                kind: Kind::Shared(slot.clone()),
            });
            response.extensions_mut().insert(slot);
            response
        }
        #[cfg(not(feature = "server"))]
        Ok(Some(stream)) => stream_response(SseBody::new(stream)),
        Ok(None) => stream_response(SseBody::full(Bytes::new())),
        Err(error) => error_response(&error).map(SseBody::full),
    }
}

/// The response body: a client's event stream, or the short text of a refusal.
///
/// Never fails; it ends when the client's stream ends (the client was replaced,
/// disconnected by its slow-client policy, or the service shut down). Dropping it
/// removes the client.
pub struct SseBody {
    kind: Kind,
}

enum Kind {
    Stream(ClientStream),
    Full(Option<Bytes>),
    /// A stream the server may take before the body is first polled.
    #[cfg(feature = "server")]
    Shared(StreamSlot),
}

/// A response's client stream, held by its body and by an extension of the response
/// until one of them takes it: the server, to write the stream itself, or the body at
/// its first poll, under any other server.
#[cfg(feature = "server")]
#[derive(Clone)]
pub(crate) struct StreamSlot(Arc<Mutex<Option<ClientStream>>>);

#[cfg(feature = "server")]
impl StreamSlot {
    pub(crate) fn take(&self) -> Option<ClientStream> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl SseBody {
    /// A body streaming `stream`'s frames.
    pub fn new(stream: ClientStream) -> Self {
        SseBody {
            kind: Kind::Stream(stream),
        }
    }

    /// A body of fixed bytes, such as a refusal's text.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        SseBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }
}

impl SseBody {
    /// Takes the bytes of a fixed body, leaving it empty; `None` for a stream. For a
    /// framework whose own body type is made differently from each.
    pub fn take_full(&mut self) -> Option<Bytes> {
        match &mut self.kind {
            Kind::Full(bytes) => Some(bytes.take().unwrap_or_default()),
            _ => None,
        }
    }

    /// Takes a shared stream into the body (or ends it, if the server took it).
    fn settle(&mut self) -> &mut Kind {
        #[cfg(feature = "server")]
        if let Kind::Shared(slot) = &self.kind {
            self.kind = slot.take().map_or(Kind::Full(None), Kind::Stream);
        }
        &mut self.kind
    }
}

/// The body's frames as a stream of data, which never fails.
impl Stream for SseBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.settle() {
            Kind::Stream(stream) => Pin::new(stream).poll_next(cx).map(|f| f.map(Ok)),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(Ok)),
            // Settled above: never shared here.
            #[cfg(feature = "server")]
            Kind::Shared(_) => Poll::Ready(None),
        }
    }
}

impl From<ClientStream> for SseBody {
    fn from(stream: ClientStream) -> Self {
        Self::new(stream)
    }
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.settle() {
            Kind::Stream(stream) => Pin::new(stream)
                .poll_next(cx)
                .map(|frame| frame.map(|f| Ok(Frame::data(f)))),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            // Settled above: never shared here.
            #[cfg(feature = "server")]
            Kind::Shared(_) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            _ => SizeHint::default(),
        }
    }
}

impl fmt::Debug for SseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Stream(stream) => f.debug_tuple("SseBody").field(stream).finish(),
            Kind::Full(bytes) => f.debug_tuple("SseBody").field(bytes).finish(),
            #[cfg(feature = "server")]
            Kind::Shared(_) => f.debug_tuple("SseBody").field(&"shared stream").finish(),
        }
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
    *response.status_mut() = status(rejection.kind());
    if let Some(after) = rejection.retry_after() {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        response.headers_mut().insert(RETRY_AFTER, secs.into());
    }
    response
}

/// The HTTP status a refusal of this kind is answered with.
pub fn status(kind: RejectionKind) -> StatusCode {
    match kind {
        RejectionKind::Invalid => StatusCode::BAD_REQUEST,
        RejectionKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        RejectionKind::Forbidden => StatusCode::FORBIDDEN,
        RejectionKind::Duplicate => StatusCode::CONFLICT,
        RejectionKind::TooMany => StatusCode::TOO_MANY_REQUESTS,
        RejectionKind::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        // A kind added later, until it is mapped here.
        _ => StatusCode::BAD_REQUEST,
    }
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

    #[test]
    fn responses() {
        let r = stream_response(());
        assert_eq!(r.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
        assert_eq!(r.headers()["x-accel-buffering"], "no");
        assert!(r.headers().get("connection").is_none());

        let r = rejection_response(&Rejection::too_many("busy", Duration::from_millis(1500)));
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[RETRY_AFTER], "2");
        assert_eq!(r.body(), "busy\n");
        assert_eq!(error_response(&Error::NotConnected).status(), 500);
    }
}
