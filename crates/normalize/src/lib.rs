//! Raw broker responses in a snapshot → canonical rows → polars frames.
//!
//! It owns the frame schemas (every amount `Decimal(38, 8)`, never a float), one module per
//! broker that survives that broker's quirks (BROKERS.md), the amounts it derives with
//! `rust_decimal` (market value, marks), and the quarantine: a record it cannot read becomes a
//! row naming the file, the JSON pointer and the reason. It never panics on input and never
//! drops a record in silence. It must not know about HTTP (it reads files) or about rules.

pub mod architect;
pub mod clearstreet;
pub mod common;
pub mod etrade;
pub mod exact;
pub mod frames;
pub mod schema;
pub mod snapshot;
pub mod tastytrade;
pub mod tradezero;

pub use frames::{Frames, build_frames};
pub use snapshot::{NormalizeError, Normalized, normalize_snapshot};
