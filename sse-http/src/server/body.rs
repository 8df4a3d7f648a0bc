//! The body of a request the server hands to a service.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;

/// The body of a request served by [`Server`](crate::Server): empty for a request
/// whose head the server read itself (a `GET` without a body, which may become an
/// event stream), or hyper's body for every other request.
///
/// An axum `Router`, a warp filter and `sse-hyper`'s endpoint take any body type; a
/// hyper service of your own takes `Request<RequestBody>` where it took
/// `Request<Incoming>`.
#[derive(Debug, Default)]
pub struct RequestBody {
    incoming: Option<Incoming>,
}

impl RequestBody {
    /// An empty body.
    pub fn empty() -> Self {
        RequestBody { incoming: None }
    }
}

impl From<Incoming> for RequestBody {
    fn from(incoming: Incoming) -> Self {
        RequestBody {
            incoming: Some(incoming),
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.incoming {
            Some(incoming) => Pin::new(incoming).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}
