//! recon on Apache Spark, through Spark Connect.
//!
//! It owns the Spark Connect client (`client`: SQL statements over gRPC, Arrow results read
//! into polars frames by polars' own Arrow reader), the `sc://` address (`remote`, whose
//! token comes from the environment only), the few protocol messages it needs (`proto`), and
//! running rule packs over exported frames (`engine`). What a rule or a view is in SQL
//! belongs to `recon_rules::portable`; how findings are worded, to `recon_rules::evaluate`.

pub mod client;
pub mod engine;
pub mod proto;
pub mod remote;

pub use client::{SparkError, SparkSession};
pub use engine::{EngineError, SparkRun, check};
pub use remote::{Remote, RemoteError, TOKEN_ENV};
