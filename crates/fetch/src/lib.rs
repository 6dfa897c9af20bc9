//! Fetching every account from every broker into a snapshot on disk.
//!
//! It owns one connector per broker behind the [`Connector`] trait (auth, paging, limits),
//! the resilient GET they share (`http`: retries with backoff and jitter, Retry-After,
//! truncated bodies), the snapshot writer (atomic, owner-only files, bodies byte for byte) and the
//! manifest that records every request and everything that could not be fetched. It must not
//! interpret what brokers send beyond finding account ids: parsing belongs to normalize.
//! Credentials live in [`secrecy::SecretString`] and are never written or logged.

pub mod client;
pub mod connector;
pub mod http;
pub mod progress;
pub mod snapshot;
pub mod tradezero;

pub use connector::{Connector, FetchOptions, fetch_all, fetch_all_with};
pub use http::RetryPolicy;
pub use progress::Progress;
pub use snapshot::SnapshotWriter;
