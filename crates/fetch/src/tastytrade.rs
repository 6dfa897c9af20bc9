//! tastytrade (BROKERS.md §1): the refresh token is traded at `POST /oauth/token` for a
//! 15-minute bearer token, renewed when less than a minute is left and once more when the
//! API says it expired mid-run; a `User-Agent` (set on the client) and `Accept-Version` on
//! every request. Then the account list and, per account, balances, positions (with marks)
//! and trading status. The token body is never stored; the token lives in a `SecretString`.

use crate::client::{BrokerClient, Call, CallError};
use crate::connector::{BrokerApi, FetchOptions, Ledger};
use crate::http;
use crate::snapshot::SnapshotWriter;
use crate::token::TokenCache;
use recon_model::Broker;
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The API version recon is written against (the maintained SDK pins the same).
pub const API_VERSION: &str = "20251101";
/// How many times one request renews an access token the API refused.
const RENEWALS: u32 = 2;

/// The OAuth client secret and refresh token. Debug prints `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
}

pub struct Tastytrade {
    client: BrokerClient,
    credentials: Credentials,
    token: TokenCache,
}

/// Query parameters of one endpoint.
type Params = &'static [(&'static str, &'static str)];

/// Per account: the snapshot endpoint, the path, and its query.
const ENDPOINTS: [(&str, &str, Params); 3] = [
    ("balances", "/accounts/{n}/balances", &[]),
    (
        "positions",
        "/accounts/{n}/positions",
        &[("include-marks", "true")],
    ),
    ("trading-status", "/accounts/{n}/trading-status", &[]),
];

impl Tastytrade {
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        options: FetchOptions,
    ) -> reqwest::Result<Self> {
        Ok(Tastytrade {
            client: BrokerClient::new(Broker::Tastytrade, base_url, options)?.with_explain(explain),
            credentials,
            token: TokenCache::default(),
        })
    }

    /// A valid access token (see [`TokenCache`]); renewed at `POST /oauth/token`.
    async fn access_token(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        stale: Option<&SecretString>,
    ) -> Result<SecretString, CallError> {
        self.token
            .get(stale, || async {
                #[derive(Deserialize)]
                struct Grant {
                    access_token: SecretString,
                    expires_in: Option<u64>,
                }
                let body = serde_json::json!({
                    "grant_type": "refresh_token",
                    "client_secret": self.credentials.client_secret.expose_secret(),
                    "refresh_token": self.credentials.refresh_token.expose_secret(),
                })
                .to_string();
                let call = Call {
                    method: Method::POST,
                    path: "/oauth/token",
                    query: &[],
                    file: None,
                };
                let bytes = self
                    .client
                    .call(ledger, out, call, |r| {
                        r.header("Content-Type", "application/json")
                            .body(body.clone())
                    })
                    .await?;
                let grant: Grant = serde_json::from_slice(&bytes).map_err(|e| CallError {
                    message: format!("the token answer has no access_token: {e}"),
                    status: Some(200),
                })?;
                // tastytrade's tokens live 15 minutes (BROKERS.md §1.2).
                let lifetime = Duration::from_secs(grant.expires_in.unwrap_or(900));
                Ok((grant.access_token, lifetime))
            })
            .await
    }

    /// GETs with the bearer token. A 401 means the token expired mid-run: it is renewed
    /// and the request tried again, at most [`RENEWALS`] times (a refresh token that no
    /// longer works fails at the renewal itself, with its own 401).
    async fn get<'c>(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        call: impl Fn() -> Call<'c>,
    ) -> Result<Vec<u8>, CallError> {
        let mut token = self.access_token(ledger, out, None).await?;
        let mut renewals = 0;
        loop {
            let bearer = token.clone();
            let result = self
                .client
                .call(ledger, out, call(), move |r| {
                    r.bearer_auth(bearer.expose_secret())
                        .header("Accept-Version", API_VERSION)
                })
                .await;
            match result {
                Err(e) if e.status == Some(401) && renewals < RENEWALS => {
                    renewals += 1;
                    token = self.access_token(ledger, out, Some(&token)).await?;
                }
                other => return other,
            }
        }
    }
}

impl BrokerApi for Tastytrade {
    const BROKER: Broker = Broker::Tastytrade;

    fn options(&self) -> &FetchOptions {
        self.client.options()
    }

    async fn list(&self, ledger: &Ledger, out: &SnapshotWriter) -> Result<Vec<String>, String> {
        self.get(ledger, out, || {
            Call::get("/customers/me/accounts", "tastytrade/accounts.json")
        })
        .await
        .map_err(|e| e.message)
        .and_then(|body| account_numbers(&body))
    }

    async fn account(&self, ledger: &Ledger, out: &SnapshotWriter, n: &str, gate: &Semaphore) {
        let calls = ENDPOINTS
            .iter()
            .map(|(endpoint, template, query)| async move {
                let _permit = gate.acquire().await;
                let path = template.replace("{n}", n);
                let file = format!("tastytrade/{n}/{endpoint}.json");
                let query: Vec<(&str, String)> =
                    query.iter().map(|(k, v)| (*k, v.to_string())).collect();
                if let Err(e) = self
                    .get(ledger, out, || Call::get(&path, &file).query(&query))
                    .await
                {
                    ledger.error(Some(n), endpoint, e.message);
                }
            });
        futures::future::join_all(calls).await;
        ledger.account(n);
    }
}

/// Account numbers from `{"data": {"items": [{"account": {"account-number": …}}]}}`.
pub fn account_numbers(body: &[u8]) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Body {
        data: Data,
    }
    #[derive(Deserialize)]
    struct Data {
        items: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        account: Account,
    }
    #[derive(Deserialize)]
    struct Account {
        #[serde(rename = "account-number")]
        number: String,
    }
    let body: Body = serde_json::from_slice(body).map_err(|e| {
        format!("account list is not {{\"data\": {{\"items\": [{{\"account\": {{\"account-number\": …}}}}]}}}}: {e}")
    })?;
    Ok(body
        .data
        .items
        .into_iter()
        .map(|i| i.account.number.trim().to_string())
        .collect())
}

fn explain(e: &http::AttemptError) -> Option<String> {
    match e.status {
        Some(401) => Some(
            "tastytrade refused the credentials or token (check brokers.tastytrade.client_secret and refresh_token)".into(),
        ),
        Some(406) => Some(format!(
            "tastytrade no longer serves API version {API_VERSION}"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_numbers_come_from_the_items() {
        let body = br#"{"data":{"items":[{"account":{"account-number":"5WT00001","is-closed":false},"authority-level":"owner"}]},"context":"/customers/me/accounts"}"#;
        assert_eq!(account_numbers(body).unwrap(), vec!["5WT00001"]);
        assert!(account_numbers(br#"{"data":[]}"#).is_err());
    }
}
