//! A snapshot on disk → polars frames.
//!
//! It owns the frame schemas (every amount `Decimal(38, 8)`, never a float), the
//! column-wise frame build and the book of record's reader. Walking a snapshot and reading
//! each broker's bytes into rows and quarantine is recon-parse's job. It must not know about HTTP (it reads files) or about rules.

pub mod books;
pub mod export;
pub mod frames;
pub mod schema;
pub mod snapshot;

// The parsers live in recon-parse (no polars, so they can be fuzzed); their paths stay
// `recon_normalize::<broker>` for everyone downstream.
pub use recon_parse::{architect, clearstreet, common, etrade, exact, tastytrade, tradezero};

pub use frames::{Frames, build_frames};
pub use snapshot::{
    NormalizeError, Normalized, ReadSnapshot, SnapshotError, normalize, normalize_snapshot,
    read_snapshot,
};
