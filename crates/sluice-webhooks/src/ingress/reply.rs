//! The answers of the ingress: `202` with where the event landed, or one
//! status per kind of refusal, each with a JSON body saying why.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use sluice_producer::SendErrorKind;

use crate::signature::SignatureError;

/// Why a request was not published.
#[derive(Debug)]
pub(crate) enum Reject {
    /// 404: no such source.
    UnknownSource(String),
    /// 405.
    Method,
    /// 415.
    ContentType(String),
    /// 413.
    TooLarge(String),
    /// 408: the body did not arrive in time.
    Timeout,
    /// 401.
    Signature(SignatureError),
    /// 400: malformed or schema-invalid JSON, a bad id or key.
    BadRequest(String),
    /// 429 with `Retry-After`: the source's rate or the producer's buffer.
    Busy(String, Duration),
    /// 503 with `Retry-After`: the cluster is unreachable; nothing was
    /// published.
    Unavailable(String),
    /// 500: the configuration does not fit the cluster (topic missing,
    /// not authorized).
    Internal(String),
}

impl Reject {
    /// The refusal a failed send becomes.
    pub(crate) fn from_send(kind: SendErrorKind, message: String) -> Self {
        match kind {
            SendErrorKind::RecordTooLarge => Reject::TooLarge(message),
            SendErrorKind::Unavailable
            | SendErrorKind::TimedOut
            | SendErrorKind::Broker
            | SendErrorKind::Closed
            | SendErrorKind::Fatal => Reject::Unavailable(message),
            // Encode, UnknownTopic, Authorization, Rejected, KeyBlocked.
            _ => Reject::Internal(message),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Reject::UnknownSource(_) => StatusCode::NOT_FOUND,
            Reject::Method => StatusCode::METHOD_NOT_ALLOWED,
            Reject::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Reject::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Reject::Timeout => StatusCode::REQUEST_TIMEOUT,
            Reject::Signature(_) => StatusCode::UNAUTHORIZED,
            Reject::BadRequest(_) => StatusCode::BAD_REQUEST,
            Reject::Busy(..) => StatusCode::TOO_MANY_REQUESTS,
            Reject::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Reject::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            Reject::UnknownSource(name) => format!("no webhook source {name:?}"),
            Reject::Method => "use POST".into(),
            Reject::Timeout => "the body did not arrive in time".into(),
            Reject::Signature(e) => format!("signature refused: {e}"),
            Reject::ContentType(m)
            | Reject::TooLarge(m)
            | Reject::BadRequest(m)
            | Reject::Busy(m, _)
            | Reject::Unavailable(m)
            | Reject::Internal(m) => m.clone(),
        }
    }

    pub(crate) fn response(&self) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "error": self.message() });
        let mut response = json(self.status(), &body);
        let retry_after = match self {
            Reject::Busy(_, wait) => Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            Reject::Unavailable(_) => Some(5),
            _ => None,
        };
        let headers = response.headers_mut();
        if let Some(secs) = retry_after {
            headers.insert("retry-after", secs.into());
        }
        if matches!(self, Reject::Method) {
            headers.insert("allow", hyper::header::HeaderValue::from_static("POST"));
        }
        response
    }
}

/// `202 Accepted` with the event id (and where it landed, unless it was a
/// duplicate answered from the dedup window).
pub(crate) fn accepted(id: &str, landed: Option<(&str, i32, i64)>) -> Response<Full<Bytes>> {
    let body = match landed {
        Some((topic, partition, offset)) => serde_json::json!({
            "id": id, "topic": topic, "partition": partition, "offset": offset,
        }),
        None => serde_json::json!({ "id": id, "duplicate": true }),
    };
    json(StatusCode::ACCEPTED, &body)
}

pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
