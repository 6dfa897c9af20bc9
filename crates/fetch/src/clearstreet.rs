//! Clear Street (BROKERS.md §3): a bearer token on every request; the account list and each
//! account's positions paged by `page_token` (filters re-sent on every page, a repeated token
//! caught as a loop); balances one object per account. Pages are stored one file each
//! (`accounts.0001.json`, `positions.0001.json`, …), even when there is only one.

use crate::client::{BrokerClient, Call, CallError, PageGuard};
use crate::connector::{BrokerApi, FetchOptions, Ledger};
use crate::http;
use crate::snapshot::SnapshotWriter;
use recon_model::Broker;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::Semaphore;

/// The largest page Clear Street serves; asking for it keeps requests few.
const PAGE_SIZE: &str = "1000";

pub struct ClearStreet {
    client: BrokerClient,
    api_key: SecretString,
}

impl ClearStreet {
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        options: FetchOptions,
    ) -> reqwest::Result<Self> {
        Ok(ClearStreet {
            client: BrokerClient::new(Broker::Clearstreet, base_url, options)?
                .with_explain(explain),
            api_key,
        })
    }

    /// Every page of a list: `files` gets the page number (1-based). Returns each page's body.
    async fn pages(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        path: &str,
        file_stem: &str,
    ) -> Result<Vec<Vec<u8>>, CallError> {
        let mut bodies = Vec::new();
        let mut guard = PageGuard::default();
        let mut token: Option<String> = None;
        loop {
            let file = format!("{file_stem}.{:04}.json", bodies.len() + 1);
            // page_size only on the first page: with a token Clear Street ignores it.
            let query: Vec<(&str, String)> = match &token {
                None => vec![("page_size", PAGE_SIZE.to_string())],
                Some(t) => vec![("page_token", t.clone())],
            };
            let body = self
                .client
                .call(ledger, out, Call::get(path, &file).query(&query), |r| {
                    r.bearer_auth(self.api_key.expose_secret())
                })
                .await?;
            let next = next_page_token(&body).map_err(|message| CallError {
                message: format!("{file}: {message}"),
                status: Some(200),
            })?;
            bodies.push(body);
            match next {
                Some(t) => {
                    guard.next(&t).map_err(|message| CallError {
                        message,
                        status: Some(200),
                    })?;
                    token = Some(t);
                }
                None => return Ok(bodies),
            }
        }
    }
}

impl BrokerApi for ClearStreet {
    const BROKER: Broker = Broker::Clearstreet;

    fn options(&self) -> &FetchOptions {
        self.client.options()
    }

    async fn list(&self, ledger: &Ledger, out: &SnapshotWriter) -> Result<Vec<String>, String> {
        self.pages(ledger, out, "/v1/accounts", "clearstreet/accounts")
            .await
            .map_err(|e| e.message)
            .and_then(|pages| {
                let mut ids = Vec::new();
                for body in &pages {
                    ids.extend(account_ids(body)?);
                }
                Ok(ids)
            })
    }

    async fn account(&self, ledger: &Ledger, out: &SnapshotWriter, id: &str, gate: &Semaphore) {
        let balances = async {
            let _permit = gate.acquire().await;
            let path = format!("/v1/accounts/{id}/balances");
            let file = format!("clearstreet/{id}/balances.json");
            let call = Call::get(&path, &file);
            if let Err(e) = self
                .client
                .call(ledger, out, call, |r| {
                    r.bearer_auth(self.api_key.expose_secret())
                })
                .await
            {
                ledger.error(Some(id), "balances", e.message);
            }
        };
        let positions = async {
            let _permit = gate.acquire().await;
            let path = format!("/v1/accounts/{id}/positions");
            let stem = format!("clearstreet/{id}/positions");
            if let Err(e) = self.pages(ledger, out, &path, &stem).await {
                ledger.error(Some(id), "positions", e.message);
            }
        };
        futures::future::join(balances, positions).await;
        ledger.account(id);
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    next_page_token: Option<String>,
}

/// The next page's token, if there is one.
fn next_page_token(body: &[u8]) -> Result<Option<String>, String> {
    let env: Envelope = serde_json::from_slice(body)
        .map_err(|e| format!("not a {{data, error, metadata}} envelope: {e}"))?;
    Ok(env
        .metadata
        .and_then(|m| m.next_page_token)
        .filter(|t| !t.is_empty()))
}

/// The account ids of one page of `/v1/accounts` (int64 numbers, or strings holding one).
pub fn account_ids(body: &[u8]) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Entry<'a> {
        #[serde(borrow)]
        id: &'a RawValue,
    }
    let env: Envelope = serde_json::from_slice(body)
        .map_err(|e| format!("account list is not a {{data, error, metadata}} envelope: {e}"))?;
    let Some(data) = env.data else {
        return Err("account list envelope without `data`".into());
    };
    let entries: Vec<Entry> = serde_json::from_str(data.get()).map_err(|e| {
        format!("account list `data` is not an array of accounts with an `id`: {e}")
    })?;
    entries
        .iter()
        .map(|e| {
            let text = e.id.get().trim_matches('"');
            text.parse::<i64>()
                .map(|n| n.to_string())
                .map_err(|_| format!("account id {} is not an int64", e.id.get()))
        })
        .collect()
}

fn explain(e: &http::AttemptError) -> Option<String> {
    match e.status {
        Some(401) => {
            Some("Clear Street wants a bearer token: check brokers.clearstreet.api_key".into())
        }
        Some(403) => Some(
            "Clear Street refused the token (expired, or without access to this account)".into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_int64_in_either_form() {
        let body =
            br#"{"data":[{"id":19816},{"id":"42"}],"error":null,"metadata":{"request_id":"x"}}"#;
        assert_eq!(account_ids(body).unwrap(), vec!["19816", "42"]);
        assert!(account_ids(br#"{"data":[{"id":"abc"}]}"#).is_err());
        assert!(account_ids(br#"{"error":{"code":403}}"#).is_err());
    }

    #[test]
    fn the_next_token_comes_from_metadata() {
        assert_eq!(
            next_page_token(br#"{"data":[],"metadata":{"next_page_token":"abc"}}"#).unwrap(),
            Some("abc".to_string())
        );
        assert_eq!(
            next_page_token(br#"{"data":[],"metadata":{"next_page_token":null}}"#).unwrap(),
            None
        );
        assert_eq!(next_page_token(br#"{"data":[]}"#).unwrap(), None);
    }
}
