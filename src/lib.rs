//! recon: end-of-day account reconciliation across brokers.
//!
//! This crate is the thin layer that wires the others together: the pipeline that runs
//! fetch → normalize → rules → report in order (`pipeline`), the exit codes (`exit`), the
//! in-process demo (`demo`) and the terminal summary (`table`). The CLI in `main.rs` only
//! parses arguments and calls in here. Everything with logic of its own lives in a crate:
//! `recon-model`, `recon-fetch`, `recon-frames`, `recon-rules`, `recon-report`,
//! `recon-sim`.

pub mod allocator;
pub mod chunking;
pub mod config;
pub mod demo;
pub mod exit;
pub mod init;
pub mod pipeline;
pub mod rules_cli;
pub mod run;
pub mod sim;
pub mod spark_check;
pub mod table;

pub use exit::ExitStatus;

/// `recon --version`: the crate version and the git commit it was built from (build.rs;
/// `unknown` when built outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("BUILD_GIT_COMMIT"),
    ")"
);
pub use pipeline::{CheckOptions, RunResult, check_snapshot};
