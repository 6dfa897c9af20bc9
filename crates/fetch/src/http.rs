//! One GET, made to survive a bad night: every attempt classified (transient: timeouts,
//! connection errors, 408, 429, 5xx, bodies cut short and 200s that are not JSON;
//! permanent: every other 4xx, so a
//! bad credential is never hammered), retried with exponential backoff and jitter, a
//! `Retry-After` honoured (capped), and the attempts counted for the manifest.

use backon::{ExponentialBuilder, Retryable};
use reqwest::{RequestBuilder, StatusCode, header};
use std::time::{Duration, Instant};

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: usize,
    pub min_delay: Duration,
    /// No wait is longer, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    pub message: String,
    pub status: Option<u16>,
    /// Worth another attempt.
    pub transient: bool,
    pub retry_after: Option<Duration>,
}

/// What a GET came to, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub body: Result<Vec<u8>, AttemptError>,
    pub attempts: u32,
}

/// One attempt: `request` is built anew each time (a request cannot be sent twice).
async fn attempt(request: RequestBuilder) -> Result<Vec<u8>, AttemptError> {
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.is_redirection() {
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_else(|| "nowhere (no Location header)".into());
        return Err(AttemptError {
            message: format!(
                "HTTP {} redirect to {location}: not followed, since the credentials would go with it; set base_url to the API's own address",
                status.as_u16()
            ),
            status: Some(status.as_u16()),
            transient: false,
            retry_after: None,
        });
    }
    let body = response.bytes().await.map_err(|e| AttemptError {
        message: format!(
            "HTTP {}: body cut short: {}",
            status.as_u16(),
            e.without_url()
        ),
        status: Some(status.as_u16()),
        transient: true,
        retry_after: None,
    })?;
    if !status.is_success() {
        let transient = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT;
        return Err(AttemptError {
            message: format!("HTTP {}: {:?}", status.as_u16(), snippet(&body)),
            status: Some(status.as_u16()),
            transient,
            retry_after,
        });
    }
    if !is_json {
        // A 200 that is not the API's JSON is a proxy or maintenance page in front of the
        // broker: worth another attempt, and never stored as if it were the answer.
        return Err(AttemptError {
            message: format!(
                "HTTP {} but not JSON: {:?}",
                status.as_u16(),
                snippet(&body)
            ),
            status: Some(status.as_u16()),
            transient: true,
            retry_after: None,
        });
    }
    // A body that is not whole JSON was cut short on the way (or the broker broke it):
    // never store half a body as if it were the answer.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        return Err(AttemptError {
            message: format!(
                "HTTP {} with a body that is not whole JSON ({e}): truncated?",
                status.as_u16()
            ),
            status: Some(status.as_u16()),
            transient: true,
            retry_after: None,
        });
    }
    Ok(body.to_vec())
}

/// A broker's request budget (`requests_per_second`), shared by all its requests.
pub type Limiter = governor::DefaultDirectRateLimiter;

/// A limiter for `per_second` requests a second; `None` for 0 (no limit).
pub fn limiter(per_second: u32) -> Option<Limiter> {
    let n = std::num::NonZeroU32::new(per_second)?;
    Some(governor::RateLimiter::direct(governor::Quota::per_second(
        n,
    )))
}

/// GETs with retries, each attempt waiting its turn under `limiter`; nothing starts and no
/// retry waits past `deadline`. `build` makes the request for each attempt.
pub async fn get(
    policy: RetryPolicy,
    limiter: Option<&Limiter>,
    deadline: Option<Instant>,
    build: impl Fn() -> RequestBuilder,
) -> Outcome {
    let (body, attempts) = retried(policy, limiter, deadline, || attempt(build())).await;
    Outcome { body, attempts }
}

/// Any call (a GET, a gRPC request) with the one retry discipline of every broker: each
/// attempt waits its turn under `limiter`; none starts past `deadline`; transient failures
/// are retried with exponential backoff and jitter, a `Retry-After` replacing the delay
/// (capped); permanent ones are not. Returns the result and the attempts made.
pub async fn retried<T, F>(
    policy: RetryPolicy,
    limiter: Option<&Limiter>,
    deadline: Option<Instant>,
    call: impl Fn() -> F,
) -> (Result<T, AttemptError>, u32)
where
    F: std::future::Future<Output = Result<T, AttemptError>>,
{
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.retries)
        .with_jitter();
    let result = (|| async {
        if let Some(limiter) = limiter {
            limiter.until_ready().await;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(AttemptError {
                message: "not attempted: the overall fetch deadline passed".into(),
                status: None,
                transient: false,
                retry_after: None,
            });
        }
        attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        call().await
    })
    .retry(backoff)
    .when(|e: &AttemptError| e.transient)
    // Retry-After replaces the backoff's delay but never revives a finished retry (`None`).
    .adjust(|e: &AttemptError, delay| {
        delay.map(|d| e.retry_after.map_or(d, |r| r.min(policy.max_delay)))
    })
    .notify(|e: &AttemptError, delay| {
        tracing::info!(error = %e.message, wait_ms = delay.as_millis() as u64, "retrying");
    })
    .await;
    (result, attempts.into_inner())
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s
}

/// reqwest's message names the URL; ours names what went wrong.
fn transport(e: reqwest::Error) -> AttemptError {
    let message = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        format!("request failed: {}", e.without_url())
    };
    AttemptError {
        message,
        status: None,
        transient: true,
        retry_after: None,
    }
}
