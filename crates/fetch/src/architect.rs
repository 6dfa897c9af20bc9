//! Architect (BROKERS.md §5): unary gRPC over HTTP/2 with JSON bodies (tonic and the shared
//! JSON codec), as Architect's SDKs speak it. The api key and secret are traded at
//! `Auth/CreateJwt` for a one-hour JWT, renewed a minute before it ends and when a call says
//! UNAUTHENTICATED; then `Accounts/Accounts` and one `Folio/AccountSummary` per account.
//!
//! Retries follow gRPC's meaning: UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED,
//! ABORTED, INTERNAL and UNKNOWN (a cut stream) are worth another attempt; UNAUTHENTICATED,
//! PERMISSION_DENIED, NOT_FOUND and INVALID_ARGUMENT are not.

use crate::connector::{BrokerApi, FetchOptions, Ledger};
use crate::http::{self, AttemptError};
use crate::snapshot::SnapshotWriter;
use crate::token::TokenCache;
use bytes::Bytes;
use recon_grpc_json::{JsonCodec, routes};
use recon_model::Broker;
use recon_model::manifest::RequestRecord;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

/// The largest answer accepted (tonic's default is 4 MiB).
const MAX_MESSAGE: usize = 1 << 30;
/// How many times one call renews a JWT the server refused.
const RENEWALS: u32 = 2;

/// The api key pair. Debug prints `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub api_key: SecretString,
    pub api_secret: SecretString,
}

pub struct Architect {
    channel: Channel,
    credentials: Credentials,
    options: FetchOptions,
    limiter: Option<http::Limiter>,
    deadline: Option<Instant>,
    jwt: TokenCache,
}

/// A failed call: the message and the gRPC code, if one came.
#[derive(Debug, Clone)]
struct CallError {
    message: String,
    code: Option<Code>,
}

impl Architect {
    /// A connector for the gRPC endpoint at `base_url` (`https://host:port`, or `http://` for
    /// the simulator). The connection is made lazily, on the first call; it must be made
    /// inside a tokio runtime.
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        options: FetchOptions,
    ) -> Result<Self, String> {
        let mut endpoint = Channel::from_shared(base_url.trim_end_matches('/').to_string())
            .map_err(|e| format!("`{base_url}` is not a gRPC endpoint: {e}"))?
            .connect_timeout(options.timeout)
            .timeout(options.timeout);
        // Architect's endpoints are TLS (`https://app.architect.co:…`), checked against the
        // system's root certificates; plain `http://` is for the simulator or a local proxy.
        if base_url.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots())
                .map_err(|e| format!("`{base_url}`: cannot set up TLS: {e}"))?;
        }
        let channel = endpoint.connect_lazy();
        Ok(Architect {
            channel,
            credentials,
            limiter: options.requests_per_second.and_then(http::limiter),
            deadline: options.deadline.map(|d| Instant::now() + d),
            options,
            jwt: TokenCache::default(),
        })
    }

    /// One gRPC attempt, classified: a refused connection and the codes a busy server
    /// answers are transient; every other status is not.
    async fn attempt(
        &self,
        route: &'static str,
        body: &Bytes,
        jwt: Option<&SecretString>,
    ) -> Result<Bytes, AttemptError> {
        // tonic refuses answers over 4 MiB by default; the account list of a large
        // firm is more (20,000 accounts ≈ 5 MB), and a summary can be too.
        let mut grpc =
            tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE);
        grpc.ready()
            .await
            .map_err(|e| attempt_error(&format!("cannot connect: {e}"), None, true))?;
        let mut request = tonic::Request::new(body.clone());
        if let Some(jwt) = jwt {
            let value = format!("Bearer {}", jwt.expose_secret())
                .parse()
                .map_err(|_| attempt_error("the JWT is not valid metadata", None, false))?;
            request.metadata_mut().insert("authorization", value);
        }
        grpc.unary(request, PathAndQuery::from_static(route), JsonCodec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| {
                let transient = matches!(
                    status.code(),
                    Code::Unavailable
                        | Code::ResourceExhausted
                        | Code::DeadlineExceeded
                        | Code::Aborted
                        | Code::Internal
                        | Code::Unknown
                );
                attempt_error(
                    &format!("gRPC {:?}: {}", status.code(), status.message()),
                    Some(status.code() as u16),
                    transient,
                )
            })
    }

    /// One unary call with retries; the response body, recorded in the manifest (the
    /// route, never the request body or metadata) and written to `file` when given.
    async fn call(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        route: &'static str,
        body: Bytes,
        jwt: Option<&SecretString>,
        file: Option<&str>,
    ) -> Result<Bytes, CallError> {
        let started = Instant::now();
        let (result, attempts) = http::retried(
            self.options.retry,
            self.limiter.as_ref(),
            self.deadline,
            || self.attempt(route, &body, jwt),
        )
        .await;
        let mut record = RequestRecord {
            method: "POST".into(),
            path: route.to_string(),
            query: None,
            status: None,
            attempts,
            ms: 0,
            file: None,
            error: None,
        };
        let result = match result {
            Ok(bytes) => {
                record.status = Some(200);
                if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
                    Err(CallError {
                        message: format!("{route} answered a body that is not JSON"),
                        code: None,
                    })
                } else if let Some(file) = file {
                    match out.write(file, &bytes) {
                        Ok(()) => {
                            record.file = Some(file.to_string());
                            Ok(bytes)
                        }
                        Err(e) => Err(CallError {
                            message: format!("cannot write {file}: {e}"),
                            code: None,
                        }),
                    }
                } else {
                    Ok(bytes)
                }
            }
            Err(e) => {
                let retried = if e.transient {
                    " (after every retry)"
                } else {
                    ""
                };
                let code = e.status.map(|c| Code::from_i32(i32::from(c)));
                let hint = if code == Some(Code::Unauthenticated) {
                    ": Architect refused the key or JWT (check brokers.architect.api_key and api_secret)"
                } else {
                    ""
                };
                Err(CallError {
                    message: format!("{}{retried}{hint}", e.message),
                    code,
                })
            }
        };
        record.ms = started.elapsed().as_millis() as u64;
        record.error = result.as_ref().err().map(|e| e.message.clone());
        ledger.request(record);
        result
    }

    /// A valid JWT (see [`TokenCache`]); renewed at `Auth/CreateJwt`.
    async fn jwt(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        stale: Option<&SecretString>,
    ) -> Result<SecretString, CallError> {
        self.jwt
            .get(stale, || async {
                #[derive(Deserialize)]
                struct Answer {
                    jwt: SecretString,
                }
                let body = serde_json::json!({
                    "api_key": self.credentials.api_key.expose_secret(),
                    "api_secret": self.credentials.api_secret.expose_secret(),
                })
                .to_string();
                let bytes = self
                    .call(
                        ledger,
                        out,
                        routes::CREATE_JWT,
                        Bytes::from(body),
                        None,
                        None,
                    )
                    .await?;
                let answer: Answer = serde_json::from_slice(&bytes).map_err(|e| CallError {
                    message: format!("CreateJwt answered without a jwt: {e}"),
                    code: None,
                })?;
                // Architect's JWTs live about an hour (BROKERS.md §5.1).
                Ok((answer.jwt, Duration::from_secs(3600)))
            })
            .await
    }

    /// A call with the JWT; UNAUTHENTICATED renews it and tries again, at most twice.
    async fn authed(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        route: &'static str,
        body: Bytes,
        file: &str,
    ) -> Result<Bytes, CallError> {
        let mut jwt = self.jwt(ledger, out, None).await?;
        let mut renewals = 0;
        loop {
            match self
                .call(ledger, out, route, body.clone(), Some(&jwt), Some(file))
                .await
            {
                Err(e) if e.code == Some(Code::Unauthenticated) && renewals < RENEWALS => {
                    renewals += 1;
                    jwt = self.jwt(ledger, out, Some(&jwt)).await?;
                }
                other => return other,
            }
        }
    }
}

fn attempt_error(message: &str, status: Option<u16>, transient: bool) -> AttemptError {
    AttemptError {
        message: message.to_string(),
        status,
        transient,
        retry_after: None,
    }
}

impl BrokerApi for Architect {
    const BROKER: Broker = Broker::Architect;

    fn options(&self) -> &FetchOptions {
        &self.options
    }

    async fn list(&self, ledger: &Ledger, out: &SnapshotWriter) -> Result<Vec<String>, String> {
        self.authed(
            ledger,
            out,
            routes::ACCOUNTS,
            Bytes::from_static(b"{}"),
            "architect/accounts.json",
        )
        .await
        .map_err(|e| e.message)
        .and_then(|body| account_ids(&body))
    }

    async fn account(&self, ledger: &Ledger, out: &SnapshotWriter, id: &str, gate: &Semaphore) {
        let _permit = gate.acquire().await;
        let body = serde_json::json!({ "account": id }).to_string();
        let file = format!("architect/{id}/summary.json");
        if let Err(e) = self
            .authed(
                ledger,
                out,
                routes::ACCOUNT_SUMMARY,
                Bytes::from(body),
                &file,
            )
            .await
        {
            ledger.error(Some(id), "summary", e.message);
        }
        ledger.account(id);
    }
}

/// Account UUIDs from `{"accounts": [{"account": {"id", "name"}, …}]}`.
pub fn account_ids(body: &[u8]) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Body {
        accounts: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        account: Account,
    }
    #[derive(Deserialize)]
    struct Account {
        id: String,
    }
    let body: Body = serde_json::from_slice(body).map_err(|e| {
        format!("account list is not {{\"accounts\": [{{\"account\": {{\"id\"…}}}}]}}: {e}")
    })?;
    Ok(body
        .accounts
        .into_iter()
        .map(|i| i.account.id.trim().to_ascii_lowercase())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_the_uuids() {
        let body = br#"{"accounts":[{"account":{"id":"0A1B2C3D-0000-4000-8000-000000000001","name":"STONEX:000000/JDoe"},"permissions":{},"trader":"t"}]}"#;
        assert_eq!(
            account_ids(body).unwrap(),
            vec!["0a1b2c3d-0000-4000-8000-000000000001"]
        );
        assert!(account_ids(br#"{"accounts":{}}"#).is_err());
    }
}
