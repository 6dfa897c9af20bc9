//! E*TRADE v1 (BROKERS.md §4): every request signed with OAuth 1.0a HMAC-SHA1 (a fresh
//! nonce and timestamp per attempt), JSON asked for with the `.json` suffix; the account
//! list, then per account `balance` (`instType=BROKERAGE`, `realTimeNAV=true`) and every
//! `portfolio` page by `pageNumber`, in the `COMPLETE` view (a page number that comes back
//! is a loop).
//!
//! recon does not run the browser authorization: the access token and its secret come from
//! config, and a 401 says they must be renewed (they expire at midnight US Eastern).

use crate::client::{BrokerClient, Call, CallError, PageGuard};
use crate::connector::{BrokerApi, FetchOptions, Ledger};
use crate::http;
use crate::snapshot::SnapshotWriter;
use recon_model::Broker;
use recon_model::oauth1;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;

/// Positions per portfolio page: E*TRADE accepts far more than its default of 50, and
/// fewer pages mean fewer signed requests.
const PAGE_COUNT: &str = "1000";

/// The four OAuth secrets. Debug prints `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub consumer_key: SecretString,
    pub consumer_secret: SecretString,
    pub access_token: SecretString,
    pub access_token_secret: SecretString,
}

pub struct Etrade {
    client: BrokerClient,
    credentials: Credentials,
    nonces: AtomicU64,
}

impl Etrade {
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        options: FetchOptions,
    ) -> reqwest::Result<Self> {
        Ok(Etrade {
            client: BrokerClient::new(Broker::Etrade, base_url, options)?.with_explain(explain),
            credentials,
            nonces: AtomicU64::new(0),
        })
    }

    /// A nonce unique to this process and attempt.
    fn nonce(&self) -> String {
        let n = self.nonces.fetch_add(1, Ordering::Relaxed);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{t:x}{n:x}")
    }

    /// One signed GET; `query` is signed and sent.
    async fn get(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        path: &str,
        query: &[(&str, String)],
        file: &str,
    ) -> Result<Vec<u8>, CallError> {
        let url = self.client.url(path);
        let c = &self.credentials;
        self.client
            .call(ledger, out, Call::get(path, file).query(query), |r| {
                let keys = oauth1::Keys {
                    consumer_key: c.consumer_key.expose_secret(),
                    consumer_secret: c.consumer_secret.expose_secret(),
                    token: c.access_token.expose_secret(),
                    token_secret: c.access_token_secret.expose_secret(),
                };
                let timestamp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let header =
                    oauth1::authorization("GET", &url, query, &keys, &self.nonce(), timestamp);
                r.header("Authorization", header)
            })
            .await
    }

    async fn portfolio(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        key: &str,
    ) -> Result<(), CallError> {
        let path = format!("/v1/accounts/{key}/portfolio.json");
        let mut guard = PageGuard::default();
        let mut page = 1usize;
        // Pages are stored in the order fetched (.0001, .0002, …) whatever number E*TRADE
        // gave them, so the reader's "every page up to the first missing one" sees them all.
        let mut stored = 1usize;
        loop {
            let file = format!("etrade/{key}/portfolio.{stored:04}.json");
            // The Complete view carries each option's multiplier (an adjusted option's is
            // not 100) and each security's CUSIP, which a book of record is matched on.
            let query = [
                ("count", PAGE_COUNT.to_string()),
                ("pageNumber", page.to_string()),
                ("view", "COMPLETE".to_string()),
            ];
            let body = self.get(ledger, out, &path, &query, &file).await?;
            let next = next_page(&body, page).map_err(|message| CallError {
                message: format!("{file}: {message}"),
                status: Some(200),
            })?;
            match next {
                Some(n) => {
                    guard.next(&n.to_string()).map_err(|message| CallError {
                        message,
                        status: Some(200),
                    })?;
                    if n <= page {
                        return Err(CallError {
                            message: format!("paging loop: page {page} says the next page is {n}"),
                            status: Some(200),
                        });
                    }
                    if n != page + 1 {
                        // Followed, but the pages in between were never fetched: the
                        // account cannot be called complete.
                        ledger.error(
                            Some(key),
                            "portfolio",
                            format!(
                                "{file}: page {page} names page {n} as the next: pages {} to {} were not fetched",
                                page + 1,
                                n - 1
                            ),
                        );
                    }
                    page = n;
                    stored += 1;
                }
                None => return Ok(()),
            }
        }
    }
}

impl BrokerApi for Etrade {
    const BROKER: Broker = Broker::Etrade;

    fn options(&self) -> &FetchOptions {
        self.client.options()
    }

    async fn list(&self, ledger: &Ledger, out: &SnapshotWriter) -> Result<Vec<String>, String> {
        self.get(
            ledger,
            out,
            "/v1/accounts/list.json",
            &[],
            "etrade/accounts.json",
        )
        .await
        .map_err(|e| e.message)
        .and_then(|body| account_keys(&body))
    }

    async fn account(&self, ledger: &Ledger, out: &SnapshotWriter, key: &str, gate: &Semaphore) {
        let balance = async {
            let _permit = gate.acquire().await;
            let path = format!("/v1/accounts/{key}/balance.json");
            let file = format!("etrade/{key}/balance.json");
            let query = [
                ("instType", "BROKERAGE".to_string()),
                ("realTimeNAV", "true".to_string()),
            ];
            if let Err(e) = self.get(ledger, out, &path, &query, &file).await {
                ledger.error(Some(key), "balance", e.message);
            }
        };
        let portfolio = async {
            let _permit = gate.acquire().await;
            if let Err(e) = self.portfolio(ledger, out, key).await {
                ledger.error(Some(key), "portfolio", e.message);
            }
        };
        futures::future::join(balance, portfolio).await;
        ledger.account(key);
    }
}

/// `map[key]`, matching the key case-insensitively (E*TRADE's casing drifts).
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// A list as E*TRADE sends it: an array, one bare object, or nothing.
fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    }
}

/// The `accountIdKey`s of `AccountListResponse.Accounts.Account`.
pub fn account_keys(body: &[u8]) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("account list: {e}"))?;
    let accounts = field(&v, "AccountListResponse")
        .and_then(|r| field(r, "Accounts"))
        .ok_or("account list without AccountListResponse.Accounts")?;
    items(field(accounts, "Account"))
        .into_iter()
        .map(|a| {
            field(a, "accountIdKey")
                .and_then(Value::as_str)
                .map(|k| k.trim().to_string())
                .ok_or_else(|| "an account without `accountIdKey`".to_string())
        })
        .collect()
}

/// The next portfolio page after `page`: `nextPageNo`, else `page + 1` while below
/// `totalPages` / `totalNoOfPages`.
fn next_page(body: &[u8], page: usize) -> Result<Option<usize>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let portfolio = field(&v, "PortfolioResponse").ok_or("no PortfolioResponse")?;
    let Some(account) = items(field(portfolio, "AccountPortfolio"))
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let number = |k: &str| {
        field(account, k).and_then(|n| {
            n.as_u64()
                .or_else(|| n.as_str().and_then(|s| s.trim().parse().ok()))
        })
    };
    if let Some(next) = number("nextPageNo") {
        return Ok(Some(next as usize));
    }
    let total = number("totalPages").or_else(|| number("totalNoOfPages"));
    Ok(total.filter(|&t| (page as u64) < t).map(|_| page + 1))
}

fn explain(e: &http::AttemptError) -> Option<String> {
    (e.status == Some(401)).then(|| {
        "E*TRADE refused the OAuth signature or token: access tokens expire at midnight US Eastern and after 2 h idle; renew brokers.etrade.access_token and access_token_secret".to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_account_as_an_object_and_many_as_an_array() {
        let one = br#"{"AccountListResponse":{"Accounts":{"Account":{"accountIdKey":"k1"}}}}"#;
        assert_eq!(account_keys(one).unwrap(), vec!["k1"]);
        let many = br#"{"accountlistresponse":{"accounts":{"account":[{"accountIdKey":"a"},{"AccountIdKey":"b"}]}}}"#;
        assert_eq!(account_keys(many).unwrap(), vec!["a", "b"]);
        assert!(account_keys(br#"{"x":1}"#).is_err());
    }

    #[test]
    fn the_next_page_comes_from_next_page_no_or_the_total() {
        let b = br#"{"PortfolioResponse":{"AccountPortfolio":{"totalNoOfPages":"3"}}}"#;
        assert_eq!(next_page(b, 1).unwrap(), Some(2));
        assert_eq!(next_page(b, 3).unwrap(), None);
        let b = br#"{"PortfolioResponse":{"AccountPortfolio":[{"nextPageNo":7}]}}"#;
        assert_eq!(next_page(b, 1).unwrap(), Some(7));
        let b = br#"{"PortfolioResponse":{}}"#;
        assert_eq!(next_page(b, 1).unwrap(), None);
    }
}
