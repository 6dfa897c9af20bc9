//! A snapshot folder and its raw broker responses → canonical rows (`recon_model::Book`) and
//! quarantine (`snapshot` walks the folder; one module per broker reads its bytes).
//!
//! It owns one module per broker that survives that broker's quirks (BROKERS.md), the
//! amounts it derives exactly with `rust_decimal` (market value, marks) and the quarantine: a
//! record it cannot read becomes a row naming the file, the JSON pointer and the reason. It
//! never panics on input and never drops a record in silence. It knows nothing of polars
//! (recon-frames turns the rows into frames), so it builds in seconds and can be fuzzed
//! (`fuzz/`), and nothing of HTTP (it reads files).

pub mod architect;
pub mod clearstreet;
pub mod common;
pub mod etrade;
pub mod exact;
pub mod snapshot;
pub mod tastytrade;
pub mod tradezero;
pub mod tree;
