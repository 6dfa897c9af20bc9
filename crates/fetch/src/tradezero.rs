//! TradeZero (BROKERS.md §2): two static headers on every request, the account list, then per
//! account `/account/{id}` (singular), `/accounts/{id}/positions` and `/accounts/{id}/pnl`,
//! fetched concurrently. Errors are `text/plain`, and a 404 means bad credentials as much as
//! an unknown account, so the recorded error says both.

use crate::client::{BrokerClient, Call, CallError};
use crate::connector::{BrokerApi, FetchOptions, Ledger};
use crate::http;
use crate::snapshot::SnapshotWriter;
use recon_model::Broker;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Semaphore;

/// Per account: the snapshot endpoint name and the API path under `/v1/api`.
const ENDPOINTS: [(&str, &str); 3] = [
    ("account", "/v1/api/account/{id}"),
    ("positions", "/v1/api/accounts/{id}/positions"),
    ("pnl", "/v1/api/accounts/{id}/pnl"),
];

/// The TradeZero key pair. Debug prints `[REDACTED]`, never the values.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub api_key_id: SecretString,
    pub api_secret_key: SecretString,
}

pub struct TradeZero {
    client: BrokerClient,
    credentials: Credentials,
}

impl TradeZero {
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        options: FetchOptions,
    ) -> reqwest::Result<Self> {
        Ok(TradeZero {
            client: BrokerClient::new(Broker::Tradezero, base_url, options)?.with_explain(explain),
            credentials,
        })
    }

    /// GETs `path` with both key headers; the body lands in `file`.
    async fn get(
        &self,
        ledger: &Ledger,
        out: &SnapshotWriter,
        path: &str,
        file: &str,
    ) -> Result<Vec<u8>, CallError> {
        self.client
            .call(ledger, out, Call::get(path, file), |r| {
                r.header("TZ-API-KEY-ID", self.credentials.api_key_id.expose_secret())
                    .header(
                        "TZ-API-SECRET-KEY",
                        self.credentials.api_secret_key.expose_secret(),
                    )
            })
            .await
    }
}

impl BrokerApi for TradeZero {
    const BROKER: Broker = Broker::Tradezero;

    fn options(&self) -> &FetchOptions {
        self.client.options()
    }

    async fn list(&self, ledger: &Ledger, out: &SnapshotWriter) -> Result<Vec<String>, String> {
        self.get(ledger, out, "/v1/api/accounts", "tradezero/accounts.json")
            .await
            .map_err(|e| e.message)
            .and_then(|body| account_ids(&body))
    }

    async fn account(&self, ledger: &Ledger, out: &SnapshotWriter, id: &str, gate: &Semaphore) {
        let calls = ENDPOINTS.iter().map(|(endpoint, template)| async move {
            let _permit = gate.acquire().await;
            let path = template.replace("{id}", id);
            let file = format!("tradezero/{id}/{endpoint}.json");
            if let Err(e) = self.get(ledger, out, &path, &file).await {
                ledger.error(Some(id), endpoint, e.message);
            }
        });
        futures::future::join_all(calls).await;
        ledger.account(id);
    }
}

/// Account ids from either documented list shape, upper-cased (ids are case-insensitive, and
/// the upper-case form is the canonical folder name).
pub fn account_ids(body: &[u8]) -> Result<Vec<String>, String> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Wrapped { accounts: Vec<Entry> },
        Bare(Vec<Entry>),
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(alias = "accountId")]
        account: String,
    }
    let list: List = serde_json::from_slice(body).map_err(|e| {
        format!("account list is neither {{\"accounts\": [...]}} nor a bare array with an account id in each element: {e}")
    })?;
    let entries = match list {
        List::Wrapped { accounts } => accounts,
        List::Bare(accounts) => accounts,
    };
    let mut ids: Vec<String> = entries
        .into_iter()
        .map(|e| e.account.trim().to_ascii_uppercase())
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// TradeZero answers 404 for bad credentials and for unknown or foreign accounts alike: say
/// so, since the first is the usual cause when a working job starts failing.
fn explain(e: &http::AttemptError) -> Option<String> {
    (e.status == Some(404)).then(|| {
        "TradeZero answers 404 for bad credentials and for unknown or foreign accounts alike"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_account_list_shapes_give_canonical_ids() {
        let rich =
            br#"{"accounts":[{"account":"tzp123","accountStatus":"Active"},{"account":"TZ9"}]}"#;
        assert_eq!(account_ids(rich).unwrap(), vec!["TZ9", "TZP123"]);
        let slim =
            br#"[{"accountId":"TZ1","accountName":"x","accountType":"Cash","status":"Active"}]"#;
        assert_eq!(account_ids(slim).unwrap(), vec!["TZ1"]);
        let err = account_ids(br#"{"data": []}"#).unwrap_err();
        assert!(err.contains("account list"), "{err}");
    }

    #[test]
    fn credentials_never_print() {
        let c = Credentials {
            api_key_id: SecretString::from("key-id-123"),
            api_secret_key: SecretString::from("secret-456"),
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("key-id-123") && !shown.contains("secret-456"),
            "{shown}"
        );
    }
}
