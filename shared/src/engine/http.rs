//! What the HTTP adapters (OpenAI-compatible, Anthropic) share: sending a JSON request and turning
//! an HTTP failure into an `EngineError`, reading `Retry-After` the way providers send it.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use super::retry::{CallSite, RetryPolicy, call_with_retries};
use super::sse::{SseDecoder, SseEvent};
use super::{ChunkStream, EngineError, StreamProgress};
use crate::chat::Chunk;

/// A non-2xx answer, before the provider module reads its error body.
pub struct ErrorReply {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: String,
}

/// The HTTP client every provider call shares: a connection that cannot be made in 5 s is a
/// provider outage, not something to wait the whole deadline for.
pub fn client() -> Result<reqwest::Client, EngineError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| EngineError::Unreachable {
            detail: e.to_string(),
        })
}

/// Sends the request and decodes a 2xx JSON body into `T`; anything else is an `ErrorReply`
/// for the provider to classify, or a transport error.
pub async fn send_json<T: DeserializeOwned>(
    request: RequestBuilder,
) -> Result<Result<T, ErrorReply>, EngineError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = response.bytes().await.map_err(transport_error)?;
    if status.is_success() {
        let decoded = serde_json::from_slice(&body).map_err(|e| EngineError::Malformed {
            detail: e.to_string(),
        })?;
        return Ok(Ok(decoded));
    }
    Ok(Err(ErrorReply {
        status,
        retry_after,
        body: String::from_utf8_lossy(&body).chars().take(2_000).collect(),
    }))
}

/// Sends the request and, for a 2xx, hands back the response to read as a stream; anything
/// else is an `ErrorReply` (the provider refused before generating), or a transport error.
async fn open_stream(
    request: RequestBuilder,
) -> Result<Result<reqwest::Response, ErrorReply>, EngineError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(Ok(response));
    }
    let retry_after = retry_after(response.headers());
    let body = response.bytes().await.map_err(transport_error)?;
    Ok(Err(ErrorReply {
        status,
        retry_after,
        body: String::from_utf8_lossy(&body).chars().take(2_000).collect(),
    }))
}

/// Opens a provider's event stream: the request is retried like a call while nothing has been
/// generated (a refusal is classified by the provider's `classify`); once it is open, nothing is
/// retried, since a second generation would be billed twice.
pub async fn open_sse_stream<D: EventDecoder + 'static>(
    policy: &RetryPolicy,
    site: CallSite<'_>,
    request: impl Fn() -> RequestBuilder,
    classify: fn(ErrorReply) -> EngineError,
    decoder: D,
) -> Result<Box<dyn ChunkStream>, EngineError> {
    let open = || async { open_stream(request()).await?.map_err(classify) };
    let response = call_with_retries(policy, site, open).await?;
    Ok(Box::new(SseChunkStream::new(response, decoder)))
}

/// A streamed response body read as server-sent events. Dropping it closes the connection.
pub struct SseBody {
    response: reqwest::Response,
    decoder: SseDecoder,
    events: VecDeque<SseEvent>,
}

impl SseBody {
    pub fn new(response: reqwest::Response) -> Self {
        SseBody {
            response,
            decoder: SseDecoder::new(),
            events: VecDeque::new(),
        }
    }

    /// The next event; `None` when the body ended (the caller knows whether that was early).
    pub async fn next_event(&mut self) -> Option<Result<SseEvent, EngineError>> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(Ok(event));
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.events.extend(self.decoder.feed(&bytes)),
                Ok(None) => return None,
                // The body broke off mid-answer: whatever the transport says, the stream was cut.
                Err(error) if error.is_timeout() => return Some(Err(EngineError::Timeout)),
                Err(error) => {
                    tracing::debug!(error = %error.without_url(), "provider stream broke off");
                    return Some(Err(EngineError::StreamCut));
                }
            }
        }
    }
}

/// A provider's stream decoder: server-sent events in, chunks out.
pub trait EventDecoder: Send {
    fn feed(&mut self, event: &SseEvent) -> Result<Vec<Chunk>, EngineError>;
    /// The provider's own end of stream was seen.
    fn is_done(&self) -> bool;
    fn progress(&self) -> StreamProgress;
}

/// A streamed answer: the body's events through the provider's decoder. A body that ends before
/// the decoder saw the provider's end is a [`EngineError::StreamCut`].
pub struct SseChunkStream<D> {
    body: SseBody,
    decoder: D,
    pending: VecDeque<Chunk>,
}

impl<D: EventDecoder> SseChunkStream<D> {
    pub fn new(response: reqwest::Response, decoder: D) -> Self {
        SseChunkStream {
            body: SseBody::new(response),
            decoder,
            pending: VecDeque::new(),
        }
    }
}

#[async_trait::async_trait]
impl<D: EventDecoder> ChunkStream for SseChunkStream<D> {
    async fn next(&mut self) -> Option<Result<Chunk, EngineError>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Some(Ok(chunk));
            }
            if self.decoder.is_done() {
                return None;
            }
            match self.body.next_event().await {
                Some(Ok(event)) => match self.decoder.feed(&event) {
                    Ok(chunks) => self.pending.extend(chunks),
                    Err(error) => return Some(Err(error)),
                },
                Some(Err(error)) => return Some(Err(error)),
                None => return Some(Err(EngineError::StreamCut)),
            }
        }
    }

    fn progress(&self) -> StreamProgress {
        self.decoder.progress()
    }
}

/// The generic meaning of an HTTP status; providers refine 400s (context length) first.
pub fn classify(reply: ErrorReply, message: Option<String>) -> EngineError {
    let message = message.unwrap_or_else(|| format!("HTTP {}", reply.status.as_u16()));
    match reply.status.as_u16() {
        401 | 403 => EngineError::Auth,
        429 => EngineError::RateLimited {
            retry_after: reply.retry_after,
        },
        400 | 404 | 409 | 413 | 422 => EngineError::InvalidRequest { message },
        408 => EngineError::Timeout,
        status => EngineError::Upstream { status },
    }
}

fn transport_error(error: reqwest::Error) -> EngineError {
    if error.is_timeout() {
        EngineError::Timeout
    } else if error.is_decode() {
        EngineError::Malformed {
            detail: error.to_string(),
        }
    } else {
        EngineError::Unreachable {
            detail: error.without_url().to_string(),
        }
    }
}

/// `retry-after-ms` (OpenAI), else `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(millis) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(millis / 1000.0).ok();
    }
    let value = header("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "0.5")])),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after-ms", "1500"),
                ("retry-after", "9")
            ])),
            Some(Duration::from_millis(1500))
        );
        let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(61));
        let parsed = retry_after(&headers(&[("retry-after", &in_a_minute)])).unwrap();
        assert!(
            parsed > Duration::from_secs(55) && parsed <= Duration::from_secs(61),
            "{parsed:?}"
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn statuses_map_to_engine_errors() {
        let reply = |status: u16| ErrorReply {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: Some(Duration::from_secs(2)),
            body: String::new(),
        };
        assert_eq!(classify(reply(401), None), EngineError::Auth);
        assert_eq!(
            classify(reply(429), None),
            EngineError::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(
            classify(reply(400), Some("bad".into())),
            EngineError::InvalidRequest {
                message: "bad".into()
            }
        );
        assert_eq!(
            classify(reply(529), None),
            EngineError::Upstream { status: 529 }
        );
        assert_eq!(
            classify(reply(503), None),
            EngineError::Upstream { status: 503 }
        );
    }
}
