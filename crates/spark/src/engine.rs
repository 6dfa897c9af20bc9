//! The rule packs run on Spark over exported frames (`recon export`).
//!
//! The packs are compiled locally first, against empty views of the canonical schema, so
//! a bad pack is refused with the same message as a local run, before Spark is asked
//! anything. Then, in one Spark session: exact decimal settings, the frames named as
//! temporary views over their Parquet folders, the views of `recon_rules::portable`, and
//! each rule's two statements (its counts, its failing rows). The rows come back as polars
//! frames and become findings through `recon_rules::evaluate::assemble`, the code a local
//! run uses, so the two engines cannot word a finding differently.

use crate::client::{SparkError, SparkSession};
use polars::prelude::DataFrame;
use recon_model::Book;
use recon_normalize::build_frames;
use recon_normalize::export::{ExportManifest, MANIFEST, parse_manifest};
use recon_rules::evaluate::{Outcome, assemble};
use recon_rules::params::Overrides;
use recon_rules::portable::{
    FRAMES, FrameColumns, NotPortable, frame_statements, rule_statements, view_statements,
};
use recon_rules::views::account_figures;
use recon_rules::{AccountFigure, Evaluation, Pack, PackError, Views, compile_with};
use std::collections::BTreeSet;
use std::time::Instant;

/// Settings of every session recon opens. Decimal products keep every digit (one that
/// does not fit in 38 digits is null, so its rule says `unknown`, never a rounded pass);
/// ANSI mode off so such an overflow is that null rather than a failed query; times in UTC
/// (ages are counted to the day's end in UTC); partition values (`broker`) kept as text.
pub const SESSION_SETTINGS: [&str; 4] = [
    "SET spark.sql.session.timeZone=UTC",
    "SET spark.sql.decimalOperations.allowPrecisionLoss=false",
    "SET spark.sql.ansi.enabled=false",
    "SET spark.sql.sources.partitionColumnTypeInference.enabled=false",
];

/// What a Spark run found, for the report.
pub struct SparkRun {
    pub manifest: ExportManifest,
    pub evaluation: Evaluation,
    pub figures: Vec<AccountFigure>,
    /// Stage times in milliseconds: `spark.setup`, `spark.rules`, `spark.figures`.
    pub timings: Vec<(String, u64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Spark could not be reached or refused recon: nothing was checked.
    #[error(transparent)]
    Spark(SparkError),
    /// The frames folder is missing, unreadable or of another version.
    #[error("frames at {root}: {reason}")]
    Frames { root: String, reason: String },
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error("{0}; run it with the local engine")]
    NotPortable(NotPortable),
    #[error("{0}")]
    Internal(String),
}

/// The canonical columns of every frame, as this recon builds them.
pub fn canonical_columns() -> Result<FrameColumns, EngineError> {
    let empty = build_frames(&Book::default(), &BTreeSet::new(), &[])
        .map_err(|e| EngineError::Internal(format!("cannot build the frame schema: {e}")))?;
    Ok(empty
        .named()
        .into_iter()
        .map(|(name, df)| {
            (
                name,
                df.schema()
                    .iter()
                    .map(|(c, dtype)| (c.to_string(), dtype.is_decimal()))
                    .collect(),
            )
        })
        .collect())
}

/// Reads the export's manifest through Spark (the frames may live where only the cluster
/// reads), and checks it.
pub async fn read_manifest(
    session: &SparkSession,
    root: &str,
) -> Result<ExportManifest, EngineError> {
    let frames_error = |reason: String| EngineError::Frames {
        root: root.to_string(),
        reason,
    };
    let path = format!("{}/{MANIFEST}", root.trim_end_matches('/'));
    let query = format!("SELECT value FROM text.`{}`", path.replace('`', "``"));
    let rows = session.sql(&query).await.map_err(|e| match e {
        SparkError::Statement { reason } => {
            frames_error(format!("cannot read {MANIFEST}: {reason}"))
        }
        other => EngineError::Spark(other),
    })?;
    let text: String = rows
        .column("value")
        .ok()
        .and_then(|c| c.str().ok())
        .map(|c| c.iter().flatten().collect::<Vec<_>>().join("\n"))
        .unwrap_or_default();
    parse_manifest(&text).map_err(|reason| frames_error(format!("{MANIFEST} {reason}")))
}

/// Runs `packs` over the frames exported at `root`.
pub async fn check(
    session: &SparkSession,
    root: &str,
    packs: &[Pack],
    overrides: &Overrides,
) -> Result<SparkRun, EngineError> {
    let started = Instant::now();
    let mut timings = Vec::new();
    for setting in SESSION_SETTINGS {
        session.sql(setting).await.map_err(EngineError::Spark)?;
    }
    let manifest = read_manifest(session, root).await?;
    let columns = canonical_columns()?;
    for frame in FRAMES {
        let exported = manifest.frames.get(frame).map(|f| f.columns.clone());
        let ours = columns
            .get(frame)
            .map(|cols| cols.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>());
        if exported != ours {
            return Err(EngineError::Frames {
                root: root.to_string(),
                reason: format!(
                    "the `{frame}` frame has other columns than this recon's: export the snapshot again"
                ),
            });
        }
    }
    // Compiled against empty views of the canonical schema: the same checks, the same
    // messages as a local run, before Spark runs anything.
    let empty = build_frames(&Book::default(), &BTreeSet::new(), &[])
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    let views = Views::build(&empty, manifest.as_of)
        .map_err(|e| EngineError::Internal(format!("cannot build the views' schema: {e}")))?;
    let compiled = compile_with(packs, &views, overrides)?;
    let statements =
        rule_statements(packs, &compiled, overrides).map_err(EngineError::NotPortable)?;

    for (name, statement) in frame_statements(root, &columns) {
        session.sql(&statement).await.map_err(|e| match e {
            SparkError::Statement { reason } => EngineError::Frames {
                root: root.to_string(),
                reason: format!("cannot name `{name}`: {reason}"),
            },
            other => EngineError::Spark(other),
        })?;
    }
    for (name, statement) in view_statements(manifest.as_of, &columns) {
        session.sql(&statement).await.map_err(|e| match e {
            SparkError::Statement { reason } => {
                EngineError::Internal(format!("Spark cannot define view `{name}`: {reason}"))
            }
            other => EngineError::Spark(other),
        })?;
    }
    timings.push((
        "spark.setup".to_string(),
        started.elapsed().as_millis() as u64,
    ));

    let rules_started = Instant::now();
    let mut results: Vec<(&recon_rules::CompiledRule, Outcome)> = Vec::new();
    for (rule, statement) in compiled.iter().zip(&statements) {
        let outcome = match run_pair(session, &statement.counts, &statement.rows).await {
            Ok(frames) => Ok(frames),
            // Spark's own error about this rule's SQL: that rule's error finding.
            Err(SparkError::Statement { reason }) | Err(SparkError::Decode(reason)) => Err(reason),
            // Lost the server: nothing after can be trusted as checked.
            Err(other) => return Err(EngineError::Spark(other)),
        };
        results.push((rule, outcome));
    }
    let evaluation = assemble(results, Vec::new());
    timings.push((
        "spark.rules".to_string(),
        rules_started.elapsed().as_millis() as u64,
    ));

    let figures_started = Instant::now();
    let figures = session
        .sql("SELECT broker, account_id, net_liq, cash, position_value FROM account_view ORDER BY broker, account_id")
        .await
        .map_err(EngineError::Spark)?;
    let figures = account_figures(&figures);
    timings.push((
        "spark.figures".to_string(),
        figures_started.elapsed().as_millis() as u64,
    ));
    Ok(SparkRun {
        manifest,
        evaluation,
        figures,
        timings,
    })
}

async fn run_pair(
    session: &SparkSession,
    counts: &str,
    rows: &str,
) -> Result<(DataFrame, DataFrame), SparkError> {
    Ok((session.sql(counts).await?, session.sql(rows).await?))
}
