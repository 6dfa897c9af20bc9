//! Fault injection: what real brokers do on a bad night. A layer in front of each broker's
//! routes that, per request path, fails the first attempts with 503, throttles with 429 and
//! `Retry-After`, cuts bodies short, answers a 200 HTML page instead of the API's body,
//! delays every answer, or fails a path for good. Counting
//! per path makes a fault profile deterministic: a test knows exactly which attempt
//! succeeds.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Every path answers 503 this many times before it answers for real.
    pub fail_first: u32,
    /// Then answers 429 with `Retry-After: retry_after_secs` this many times.
    pub throttle_first: u32,
    pub retry_after_secs: u32,
    /// Then cuts the body of this many answers in half (a connection dropped mid-body).
    pub truncate_first: u32,
    /// Then answers this many times 200 with an HTML page instead of the API's body (a
    /// proxy or maintenance page in front of the broker).
    pub invalid_first: u32,
    /// Paths containing any of these always answer 500 (an account that cannot be fetched).
    pub always_fail: Vec<String>,
    /// Added to every answer.
    pub latency: Duration,
    /// Paged lists hand back a page token (or page number) they gave before. Each broker
    /// module applies it to its own paging.
    pub paging_loop: bool,
    /// Access tokens stop working after this many uses, as if they expired mid-run.
    pub token_uses: Option<u32>,
}

impl Faults {
    pub fn is_none(&self) -> bool {
        *self == Faults::default()
    }

    /// A named profile, for `recon sim --faults NAME`.
    pub fn profile(name: &str) -> Option<Faults> {
        Some(match name {
            "none" => Faults::default(),
            "flaky" => Faults {
                fail_first: 1,
                throttle_first: 1,
                retry_after_secs: 1,
                truncate_first: 1,
                ..Faults::default()
            },
            "invalid" => Faults {
                invalid_first: 1,
                ..Faults::default()
            },
            "loop" => Faults {
                paging_loop: true,
                ..Faults::default()
            },
            "expiry" => Faults {
                token_uses: Some(5),
                ..Faults::default()
            },
            "slow" => Faults {
                latency: Duration::from_millis(250),
                ..Faults::default()
            },
            _ => return None,
        })
    }
}

#[derive(Debug, Default)]
pub struct FaultState {
    faults: Faults,
    seen: Mutex<HashMap<String, u32>>,
}

impl FaultState {
    pub fn new(faults: Faults) -> Arc<Self> {
        Arc::new(FaultState {
            faults,
            seen: Mutex::new(HashMap::new()),
        })
    }
}

fn json_error(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The middleware: decides from the path's attempt count what this answer is.
pub async fn inject(
    State(state): State<Arc<FaultState>>,
    request: Request,
    next: Next,
) -> Response {
    let f = &state.faults;
    if !f.latency.is_zero() {
        tokio::time::sleep(f.latency).await;
    }
    let path = request.uri().path().to_ascii_lowercase();
    if f.always_fail
        .iter()
        .any(|p| path.contains(&p.to_ascii_lowercase()))
    {
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"Internal Server Error"}"#,
        );
    }
    let n = {
        let mut seen = state.seen.lock().unwrap_or_else(|e| e.into_inner());
        let n = seen.entry(path).or_default();
        *n += 1;
        *n
    };
    if n <= f.fail_first {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"Service Unavailable"}"#,
        );
    }
    if n <= f.fail_first + f.throttle_first {
        let mut r = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"error":"Too Many Requests"}"#,
        );
        if let Ok(v) = HeaderValue::from_str(&f.retry_after_secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let before_invalid = f.fail_first + f.throttle_first + f.truncate_first;
    if n > before_invalid && n <= before_invalid + f.invalid_first {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><body><h1>Scheduled maintenance</h1><p>Please try again shortly.</p></body></html>",
        )
            .into_response();
    }
    let response = next.run(request).await;
    if n <= f.fail_first + f.throttle_first + f.truncate_first && response.status().is_success() {
        let (mut parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        let cut = bytes.slice(..bytes.len() / 2);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(cut));
    }
    response
}
