//! What every connector does the same way: one connection pool per broker, each request made
//! through the resilient [`http::get`] under the broker's rate limit and deadline, the body
//! written byte for byte into the snapshot, and the request recorded in the manifest (path
//! and query only: auth lives in headers and bodies, which are never recorded). Also the
//! account selection every broker shares: the allow list, and ids unsafe as folder names.

use crate::connector::{FetchOptions, Ledger};
use crate::http::{self, AttemptError};
use crate::snapshot::{SnapshotWriter, is_safe_segment};
use recon_model::Broker;
use recon_model::manifest::RequestRecord;
use reqwest::{Method, RequestBuilder};
use std::time::Instant;

/// A request that failed: the message for the manifest, and the HTTP status if one came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub message: String,
    pub status: Option<u16>,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One broker's HTTP side.
pub struct BrokerClient {
    broker: Broker,
    base_url: String,
    http: reqwest::Client,
    options: FetchOptions,
    limiter: Option<http::Limiter>,
    deadline: Option<Instant>,
    /// Adds what the broker's errors mean (TradeZero's 404, E*TRADE's `oauth_problem`).
    explain: fn(&AttemptError) -> Option<String>,
}

/// One request: where it goes and where its body is kept.
pub struct Call<'a> {
    pub method: Method,
    pub path: &'a str,
    /// Query parameters, recorded in the manifest: never a secret.
    pub query: &'a [(&'a str, String)],
    /// Snapshot file for the body (relative), or `None` for a body not kept (a token).
    pub file: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub fn get(path: &'a str, file: &'a str) -> Self {
        Call {
            method: Method::GET,
            path,
            query: &[],
            file: Some(file),
        }
    }

    pub fn query(mut self, query: &'a [(&'a str, String)]) -> Self {
        self.query = query;
        self
    }
}

impl BrokerClient {
    pub fn new(broker: Broker, base_url: &str, options: FetchOptions) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            // No redirect is followed: reqwest's default strips only Authorization and
            // Cookie across hosts, so TradeZero's secret-key header would follow one, and a
            // 307 on tastytrade's token endpoint would re-post the refresh token. A 3xx is
            // an error naming where it pointed (http::attempt).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .user_agent(concat!("recon/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(BrokerClient {
            broker,
            base_url: base_url.trim_end_matches('/').to_string(),
            limiter: options.requests_per_second.and_then(http::limiter),
            deadline: options.deadline.map(|d| Instant::now() + d),
            options,
            http,
            explain: |_| None,
        })
    }

    /// Sets what this broker's errors mean.
    pub fn with_explain(mut self, explain: fn(&AttemptError) -> Option<String>) -> Self {
        self.explain = explain;
        self
    }

    pub fn broker(&self) -> Broker {
        self.broker
    }

    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Makes `call` with retries; `auth` adds headers or a body to each attempt. On success
    /// the body is written to `call.file`. Every call lands in the manifest, with attempts.
    pub async fn call(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        call: Call<'_>,
        auth: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Vec<u8>, CallError> {
        let started = Instant::now();
        let url = self.url(call.path);
        let outcome = http::get(
            self.options.retry,
            self.limiter.as_ref(),
            self.deadline,
            || {
                let request = self
                    .http
                    .request(call.method.clone(), &url)
                    .header("Accept", "application/json")
                    .query(call.query);
                auth(request)
            },
        )
        .await;
        let mut record = RequestRecord {
            method: call.method.to_string(),
            path: call.path.to_string(),
            query: (!call.query.is_empty()).then(|| {
                call.query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            }),
            status: None,
            attempts: outcome.attempts,
            ms: 0,
            file: None,
            error: None,
        };
        let result = match outcome.body {
            Ok(body) => {
                record.status = Some(200);
                match call.file {
                    Some(file) => match out.write(file, &body) {
                        Ok(()) => {
                            record.file = Some(file.to_string());
                            Ok(body)
                        }
                        Err(e) => Err(CallError {
                            message: format!("cannot write {file}: {e}"),
                            status: Some(200),
                        }),
                    },
                    None => Ok(body),
                }
            }
            Err(e) => {
                record.status = e.status;
                let retried = if e.transient {
                    " (after every retry)"
                } else {
                    ""
                };
                let message = match (self.explain)(&e) {
                    Some(meaning) => format!("{}: {meaning}", e.message),
                    None => format!("{}{retried}", e.message),
                };
                Err(CallError {
                    message,
                    status: e.status,
                })
            }
        };
        record.ms = started.elapsed().as_millis() as u64;
        record.error = result.as_ref().err().map(|e| e.message.clone());
        ledger.request(record);
        result
    }
}

/// The accounts to fetch from the ids the broker listed: the allow list applied
/// (case-insensitively), ids unsafe as folder names refused, and allow-listed accounts the
/// broker does not list reported. Each refusal is a manifest error.
pub fn select_accounts(
    ledger: &Ledger,
    listed: Vec<String>,
    options: &FetchOptions,
) -> Vec<String> {
    let allowed = |id: &str| {
        options
            .accounts
            .as_ref()
            .is_none_or(|allow| allow.iter().any(|a| a.eq_ignore_ascii_case(id)))
    };
    let mut wanted = Vec::new();
    for id in listed {
        if !is_safe_segment(&id) {
            ledger.error(
                Some(&id),
                "accounts",
                format!("account id {id:?} cannot be a snapshot folder name; not fetched"),
            );
        } else if allowed(&id) && !wanted.contains(&id) {
            wanted.push(id);
        }
    }
    if let Some(allow) = &options.accounts {
        for a in allow {
            if !wanted.iter().any(|w| w.eq_ignore_ascii_case(a)) {
                ledger.error(
                    Some(a),
                    "accounts",
                    "in the configured allow list but not in the broker's account list",
                );
            }
        }
    }
    ledger.expect_accounts(wanted.len());
    wanted
}

/// Remembers the page tokens (or page numbers) already asked for, so a broker that hands
/// back a token it gave before is caught instead of looping forever.
#[derive(Debug, Default)]
pub struct PageGuard {
    seen: std::collections::HashSet<String>,
}

impl PageGuard {
    /// The most pages recon follows for one list; a broker that never stops is a fault.
    pub const MAX_PAGES: usize = 10_000;

    /// `Err` when `token` was seen before or too many pages came.
    pub fn next(&mut self, token: &str) -> Result<(), String> {
        if !self.seen.insert(token.to_string()) {
            return Err(format!(
                "paging loop: the broker returned page token {token:?} a second time; stopped after {} page(s)",
                self.seen.len() + 1
            ));
        }
        if self.seen.len() > Self::MAX_PAGES {
            return Err(format!(
                "more than {} pages: stopped, the list is not whole",
                Self::MAX_PAGES
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_token_is_a_loop() {
        let mut g = PageGuard::default();
        assert!(g.next("a").is_ok());
        assert!(g.next("b").is_ok());
        let e = g.next("a").unwrap_err();
        assert!(e.contains("paging loop") && e.contains("\"a\""), "{e}");
    }
}
