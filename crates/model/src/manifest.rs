//! `manifest.json`, the table of contents of a snapshot: which brokers and accounts were
//! fetched, every request made, and everything that could not be fetched. fetch writes it,
//! normalize and the pipeline read it. No credential, token or auth header ever belongs here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The manifest format this build writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;
/// The file name at the root of a snapshot.
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub as_of: NaiveDate,
    pub fetched_at: DateTime<Utc>,
    pub recon_version: String,
    /// Keyed by broker name (`tradezero`, …).
    pub brokers: BTreeMap<String, BrokerManifest>,
}

impl Manifest {
    /// A manifest read without its request log, which a check does not use and which is
    /// most of the file for a big book (200 MB at 300,000 accounts): it is parsed and
    /// skipped, never held. `requests` is `None`.
    pub fn read_without_requests(reader: impl std::io::Read) -> serde_json::Result<Manifest> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Head {
            format: u32,
            as_of: NaiveDate,
            fetched_at: DateTime<Utc>,
            recon_version: String,
            brokers: BTreeMap<String, BrokerHead>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct BrokerHead {
            status: FetchStatus,
            accounts: Vec<String>,
            #[serde(default)]
            errors: Vec<FetchErrorRecord>,
            #[serde(default)]
            #[allow(dead_code)]
            requests: serde::de::IgnoredAny,
        }
        let head: Head =
            serde_json::from_reader(std::io::BufReader::with_capacity(1 << 20, reader))?;
        Ok(Manifest {
            format: head.format,
            as_of: head.as_of,
            fetched_at: head.fetched_at,
            recon_version: head.recon_version,
            brokers: head
                .brokers
                .into_iter()
                .map(|(name, b)| {
                    let entry = BrokerManifest {
                        status: b.status,
                        accounts: b.accounts,
                        errors: b.errors,
                        requests: None,
                    };
                    (name, entry)
                })
                .collect(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchStatus {
    /// Every account and endpoint was fetched.
    Complete,
    /// Some accounts or endpoints are missing; `errors` says which.
    Partial,
    /// Nothing usable was fetched (e.g. the account list failed).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerManifest {
    pub status: FetchStatus,
    /// Canonical account ids, each one a folder under the broker folder.
    pub accounts: Vec<String>,
    #[serde(default)]
    pub errors: Vec<FetchErrorRecord>,
    /// Optional: a snapshot written by hand or by another tool may omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Vec<RequestRecord>>,
}

/// Something that could not be fetched. Each one becomes a `fetch-incomplete` finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchErrorRecord {
    /// The account, or `None` when the whole broker failed (e.g. the account list).
    pub account: Option<String>,
    pub endpoint: String,
    pub error: String,
}

/// One HTTP (or gRPC) request, as made. `query` never holds a secret.
///
/// These records only document the fetch; nothing in a check depends on them. So, unlike
/// the rest of the manifest, they are read tolerantly: a snapshot written by hand or by
/// another tool may omit any field, give `query` as an object, or add fields of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub path: String,
    #[serde(default, deserialize_with = "query_text")]
    pub query: Option<String>,
    /// The HTTP status of the last attempt; `None` when no response arrived.
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub ms: u64,
    /// The snapshot file the body was written to, relative to the snapshot root.
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// `query` as the query string (`"page=2&count=50"`); an object (`{"page": 2}`) becomes
/// `page=2`, any other value its JSON text.
fn query_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Object(map)) => Some(
            map.iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join("&"),
        ),
        Some(other) => Some(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_written_manifest_without_requests_reads() {
        let text = r#"{"format": 1, "as_of": "2026-11-20", "fetched_at": "2026-11-20T21:00:00Z",
            "recon_version": "hand", "brokers": {"tradezero": {"status": "partial",
            "accounts": ["TZ1"], "errors": [{"account": "TZ2", "endpoint": "positions",
            "error": "HTTP 500"}]}}}"#;
        let m: Manifest = serde_json::from_str(text).unwrap();
        let tz = &m.brokers["tradezero"];
        assert_eq!(tz.status, FetchStatus::Partial);
        assert_eq!(tz.errors[0].account.as_deref(), Some("TZ2"));
        assert!(tz.requests.is_none());
    }

    #[test]
    fn request_records_from_another_tool_are_read_tolerantly() {
        let text = r#"{"format": 1, "as_of": "2026-11-20", "fetched_at": "2026-11-20T21:00:00Z",
            "recon_version": "other", "brokers": {"tradezero": {"status": "complete",
            "accounts": ["TZ1"], "errors": [], "requests": [
              {"method": "GET", "path": "/v1/api/accounts", "query": {"page": 2, "count": "50"},
               "status": 200, "body": "{...}"},
              {"path": "/v1/api/account/TZ1/positions"}]}}}"#;
        let m: Manifest = serde_json::from_str(text).unwrap();
        let requests = m.brokers["tradezero"].requests.as_ref().unwrap();
        assert_eq!(requests[0].query.as_deref(), Some("page=2&count=50"));
        assert_eq!((requests[0].attempts, requests[0].ms), (0, 0));
        assert_eq!(requests[1].method, "");
    }

    #[test]
    fn what_decides_the_answer_is_still_read_strictly() {
        // An unknown status, or an extra key where the answer is decided, is refused.
        let status = r#"{"format": 1, "as_of": "2026-11-20", "fetched_at": "2026-11-20T21:00:00Z",
            "recon_version": "x", "brokers": {"tradezero": {"status": "fine", "accounts": []}}}"#;
        assert!(serde_json::from_str::<Manifest>(status).is_err());
        let extra = r#"{"format": 1, "as_of": "2026-11-20", "fetched_at": "2026-11-20T21:00:00Z",
            "recon_version": "x", "brokers": {"tradezero": {"status": "complete",
            "accounts": [], "errors": [{"account": null, "endpoint": "x", "error": "y", "z": 1}]}}}"#;
        assert!(serde_json::from_str::<Manifest>(extra).is_err());
        for text in [status, extra] {
            assert!(Manifest::read_without_requests(text.as_bytes()).is_err());
        }
    }

    #[test]
    fn a_check_reads_the_manifest_without_its_request_log() {
        let text = r#"{"format": 1, "as_of": "2026-11-20", "fetched_at": "2026-11-20T21:00:00Z",
            "recon_version": "x", "brokers": {"tradezero": {"status": "partial",
            "accounts": ["TZ1", "TZ2"], "errors": [{"account": "TZ2", "endpoint": "pnl",
            "error": "HTTP 500"}], "requests": [{"method": "GET", "path": "/v1/api/accounts"}]}}}"#;
        let mut whole: Manifest = serde_json::from_str(text).unwrap();
        let head = Manifest::read_without_requests(text.as_bytes()).unwrap();
        assert!(whole.brokers["tradezero"].requests.is_some());
        whole.brokers.get_mut("tradezero").unwrap().requests = None;
        assert_eq!(head, whole);
        // A cut-short file is still refused.
        assert!(Manifest::read_without_requests(&text.as_bytes()[..200]).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = r#"{"format": 1, "as_of": "2026-11-20", "fetched_at": "2026-11-20T21:00:00Z",
            "recon_version": "x", "brokers": {}, "token": "secret"}"#;
        let err = serde_json::from_str::<Manifest>(text).unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
    }
}
