//! Declarative rule packs over the canonical frames.
//!
//! It owns the rule-pack format (`pack`), the rewriting of rule SQL so every literal and
//! parameter is an exact Decimal (`literals`), the views rules run on (`views`; against a
//! book of record `book_views`, whose lots are summed in `lot_sums`), compiling
//! rules to polars expressions and refusing a bad pack at load time (`compile`), evaluating
//! every rule in one batch (`evaluate`), and the findings it yields (`finding`). It must not
//! know about brokers or HTTP: it sees frames with the columns of DESIGN.md, nothing else.

mod account_rows;
pub mod book_views;
pub mod cases;
pub mod compile;
pub mod evaluate;
pub mod finding;
pub mod literals;
mod lot_sums;
pub mod pack;
pub mod params;
pub mod portable;
pub mod reach;
pub mod views;
pub mod waivers;

pub use compile::{CompiledRule, compile, compile_with};
pub use evaluate::{Evaluation, RuleStats, evaluate, rule_order};
pub use finding::{Finding, FindingStatus, Severity};
pub use pack::{CORE_PACK, Pack, PackError, load_pack_file, parse_pack};
pub use views::{AccountFigure, Views};
