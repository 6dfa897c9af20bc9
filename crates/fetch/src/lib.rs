//! Fetching every account from every broker into a snapshot on disk.
//!
//! It owns one connector per broker behind the [`Connector`] trait (auth, paging, limits),
//! the resilient GET they share (`http`: retries with backoff and jitter, Retry-After,
//! truncated bodies), the snapshot writer (atomic, owner-only files, bodies byte for byte) and the
//! manifest that records every request and everything that could not be fetched. It must not
//! interpret what brokers send beyond finding account ids: parsing belongs to normalize.
//! Credentials live in [`secrecy::SecretString`] and are never written or logged.

pub mod architect;
pub mod clearstreet;
pub mod client;
pub mod connector;
pub mod etrade;
pub mod http;
pub mod progress;
pub mod snapshot;
pub mod tastytrade;
pub mod token;
pub mod tradezero;

pub use connector::{Connector, FetchOptions, fetch_all, fetch_all_with};
pub use http::RetryPolicy;
pub use progress::Progress;
pub use snapshot::SnapshotWriter;

use recon_model::Broker;
use secrecy::SecretString;
use std::collections::BTreeMap;

/// A broker's credentials by config key (`api_key_id`, `refresh_token`, …).
#[derive(Debug, Clone, Default)]
pub struct Secrets(BTreeMap<String, SecretString>);

impl Secrets {
    pub fn insert(&mut self, key: &str, value: SecretString) {
        self.0.insert(key.to_string(), value);
    }

    /// The credential `key`, or an error naming it.
    pub fn get(&self, key: &str) -> Result<SecretString, String> {
        self.0
            .get(key)
            .cloned()
            .ok_or_else(|| format!("credential `{key}` is missing"))
    }
}

/// The connector for `broker` at `base_url`.
pub fn connector(
    broker: Broker,
    base_url: &str,
    secrets: Secrets,
    options: FetchOptions,
) -> Result<Box<dyn Connector>, String> {
    let http_error = |e: reqwest::Error| format!("cannot build the HTTP client: {e}");
    Ok(match broker {
        Broker::Tradezero => Box::new(
            tradezero::TradeZero::new(
                base_url,
                tradezero::Credentials {
                    api_key_id: secrets.get("api_key_id")?,
                    api_secret_key: secrets.get("api_secret_key")?,
                },
                options,
            )
            .map_err(http_error)?,
        ),
        Broker::Clearstreet => Box::new(
            clearstreet::ClearStreet::new(base_url, secrets.get("api_key")?, options)
                .map_err(http_error)?,
        ),
        Broker::Tastytrade => Box::new(
            tastytrade::Tastytrade::new(
                base_url,
                tastytrade::Credentials {
                    client_secret: secrets.get("client_secret")?,
                    refresh_token: secrets.get("refresh_token")?,
                },
                options,
            )
            .map_err(http_error)?,
        ),
        Broker::Etrade => Box::new(
            etrade::Etrade::new(
                base_url,
                etrade::Credentials {
                    consumer_key: secrets.get("consumer_key")?,
                    consumer_secret: secrets.get("consumer_secret")?,
                    access_token: secrets.get("access_token")?,
                    access_token_secret: secrets.get("access_token_secret")?,
                },
                options,
            )
            .map_err(http_error)?,
        ),
        Broker::Architect => Box::new(architect::Architect::new(
            base_url,
            architect::Credentials {
                api_key: secrets.get("api_key")?,
                api_secret: secrets.get("api_secret")?,
            },
            options,
        )?),
    })
}
