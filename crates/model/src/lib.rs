//! The canonical model of recon: the row types of every frame (accounts, balances, positions,
//! pnl, quarantine), option symbology, the snapshot manifest, and the P&L matching order.
//!
//! Everything here is plain Rust with `rust_decimal` amounts. This crate must not know about
//! polars, HTTP or any broker's wire format: fetch, normalize, rules, report and the simulator
//! all build on it, so it has to compile in seconds. Its only I/O is `files`, the atomic
//! owner-only writer every output goes through.

pub mod contracts;
pub mod files;
pub mod manifest;
pub mod oauth1;
pub mod occ;
pub mod pnl_match;
pub mod rows;

pub use rows::*;
