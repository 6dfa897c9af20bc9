//! recon-frames: a snapshot's parsed rows → polars frames.
//!
//! It owns the frame schemas (every amount `Decimal(38, 8)`, never a float), the
//! column-wise frame build and the book of record's reader. Walking a snapshot and reading
//! each broker's bytes into rows and quarantine is recon-parse's job. It must not know about HTTP (it reads files) or about rules.

pub mod books;
pub mod export;
pub mod frames;
pub mod schema;
pub mod snapshot;

// Exact amounts as the i128 units of a Decimal column: the parsers produce them, frames
// hold them, and the rule engine reads them back.
pub use recon_parse::exact;

pub use frames::{Frames, build_frames, build_frames_of_parts};
pub use snapshot::{
    NormalizeError, Normalized, ReadSnapshot, SnapshotError, normalize, normalize_snapshot,
    read_snapshot,
};
