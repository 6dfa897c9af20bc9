//! The canonical model of recon: the row types of every frame (accounts, balances, positions,
//! pnl, quarantine), option and futures symbology with the futures contract table, the
//! snapshot manifest, the P&L matching order, security identifiers (CUSIP, ISIN), and
//! OAuth 1.0a signing (which fetch and the simulator must agree on byte for byte).
//!
//! Everything here is plain Rust with `rust_decimal` amounts. This crate must not know about
//! polars, HTTP or any broker's wire format: fetch, normalize, rules, report and the simulator
//! all build on it, so it has to compile in seconds. Its only I/O is `files`, the atomic
//! owner-only writer every output goes through.

pub mod brokers;
pub mod contracts;
pub mod failpoint;
pub mod files;
pub mod instrument_key;
pub mod manifest;
pub mod oauth1;
pub mod occ;
pub mod pnl_match;
pub mod rows;
pub mod security_id;

pub use rows::*;
