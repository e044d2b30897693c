//! The response body: a complete buffer, or a stream of SSE frames fed
//! through a channel. A stream that ends in [`Cut`] makes hyper drop the
//! connection mid-response, like a server that died.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// The scripted end of a stream: the connection is cut, not closed cleanly.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the script cut the connection")]
pub(crate) struct Cut;

/// A response body.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    /// Everything at once (`None` once sent).
    Full(Option<Bytes>),
    /// Frames as they are sent; the stream ends when every sender is gone.
    Stream(mpsc::Receiver<Result<Bytes, Cut>>),
}

impl ResponseBody {
    pub(crate) fn empty() -> ResponseBody {
        ResponseBody::Full(None)
    }

    pub(crate) fn full(bytes: impl Into<Bytes>) -> ResponseBody {
        ResponseBody::Full(Some(bytes.into()))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Cut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Cut>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Stream(receiver) => {
                receiver.poll_recv(cx).map(|next| next.map(|item| item.map(Frame::data)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResponseBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ResponseBody::Full(None) => SizeHint::with_exact(0),
            ResponseBody::Stream(_) => SizeHint::default(),
        }
    }
}
