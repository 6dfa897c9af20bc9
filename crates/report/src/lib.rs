//! Turning a run's findings into what people and machines read: the run-output folder of
//! DESIGN.md (JSON Lines, CSV, Parquet, JUnit XML, Markdown, `summary.json`, and
//! `latest.json` beside the runs), written atomically. It must not know how findings were made: it takes findings, rule statistics
//! and facts about the run, and renders them.

pub mod diff;
pub mod email;
pub mod files;
pub mod html;
pub mod render;
pub mod summary;

pub use files::{RunOutput, run_dir, write_run};
pub use summary::{EmailOutcome, IncompleteItem, PackInfo, RunFacts, Summary};
