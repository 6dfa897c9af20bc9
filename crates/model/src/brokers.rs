//! What recon knows of each broker as data, in one table: its production endpoint, the
//! credential keys its config section takes (and so the environment variables, the
//! redaction, `recon init`'s templates and `config check` follow), and how it
//! authenticates. The code of each layer (connector, parser, simulator) is one module per
//! broker, chosen by one `match` on [`Broker`] per layer: docs/adding-a-broker.md.

use crate::Broker;

/// One broker's facts (BROKERS.md).
#[derive(Debug, Clone, Copy)]
pub struct BrokerSpec {
    pub broker: Broker,
    /// The production API's base URL; `None` when it must be configured (Architect
    /// publishes its gRPC port by DNS SRV, which recon does not resolve).
    pub default_url: Option<&'static str>,
    /// The credential keys of its `[brokers.<name>]` section; any other is refused.
    pub credentials: &'static [&'static str],
    /// How it authenticates, in one line (for `recon init`).
    pub auth: &'static str,
    /// The `base_url` line `recon init` writes: a comment with the default (and sandbox),
    /// or the required setting.
    pub url_line: &'static str,
    /// Memory a check holds per byte of this broker's snapshot files, in tenths (parsed
    /// rows, frames, views): how `recon check` weighs an account against its memory budget.
    /// Measured per broker on the 10,000 × 100 snapshot (docs/performance.md); a compact
    /// format (Architect's) carries more positions per byte and costs more per byte.
    pub memory_per_byte_tenths: u64,
}

/// Every broker, in `Broker::ALL` order.
pub const BROKERS: [BrokerSpec; 5] = [
    BrokerSpec {
        broker: Broker::Tastytrade,
        default_url: Some("https://api.tastyworks.com"),
        credentials: &["client_secret", "refresh_token"],
        auth: "OAuth: the refresh token is traded for 15-minute access tokens, renewed as they end.",
        url_line: "# base_url = \"https://api.tastyworks.com\"   # the default; sandbox: https://api.cert.tastyworks.com",
        memory_per_byte_tenths: 20,
    },
    BrokerSpec {
        broker: Broker::Tradezero,
        default_url: Some("https://webapi.tradezero.com"),
        credentials: &["api_key_id", "api_secret_key"],
        auth: "Two headers on every request (key id and secret key); paper and live share the URL.",
        url_line: "# base_url = \"https://webapi.tradezero.com\"  # the default",
        memory_per_byte_tenths: 34,
    },
    BrokerSpec {
        broker: Broker::Clearstreet,
        default_url: Some("https://api.clearstreet.com"),
        credentials: &["api_key"],
        auth: "A bearer token.",
        url_line: "# base_url = \"https://api.clearstreet.com\"  # the default",
        memory_per_byte_tenths: 30,
    },
    BrokerSpec {
        broker: Broker::Etrade,
        default_url: Some("https://api.etrade.com"),
        credentials: &[
            "consumer_key",
            "consumer_secret",
            "access_token",
            "access_token_secret",
        ],
        auth: "OAuth 1.0a: renew the access token and its secret every day (they expire at midnight ET).",
        url_line: "# base_url = \"https://api.etrade.com\"       # the default; sandbox: https://apisb.etrade.com",
        memory_per_byte_tenths: 24,
    },
    BrokerSpec {
        broker: Broker::Architect,
        default_url: None,
        credentials: &["api_key", "api_secret"],
        auth: "Traded for a one-hour JWT; gRPC over TLS checked against the system's roots.",
        url_line: "base_url = \"https://app.architect.co:10081\"  # required: the gRPC endpoint (port from Architect's SRV record)",
        memory_per_byte_tenths: 90,
    },
];

/// The facts of `broker`.
pub fn spec(broker: Broker) -> &'static BrokerSpec {
    BROKERS
        .iter()
        .find(|s| s.broker == broker)
        .expect("BROKERS lists every Broker (tested)")
}

/// Every credential key any broker takes, each once, in table order.
pub fn all_credential_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for key in BROKERS.iter().flat_map(|s| s.credentials) {
        if !keys.contains(key) {
            keys.push(key);
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_broker_once_in_order() {
        let listed: Vec<Broker> = BROKERS.iter().map(|s| s.broker).collect();
        assert_eq!(listed, Broker::ALL);
        for b in Broker::ALL {
            assert_eq!(spec(*b).broker, *b);
            assert!(!spec(*b).credentials.is_empty(), "{b:?}");
        }
        assert_eq!(all_credential_keys().len(), 10);
    }
}
