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
use recon_frames::books::BookFrames;
use recon_frames::export::{ExportManifest, MANIFEST, parse_manifest};
use recon_frames::{Frames, build_frames};
use recon_model::Book;
use recon_rules::evaluate::{Outcome, assemble};
use recon_rules::params::Overrides;
use recon_rules::portable::{
    FrameColumns, NotPortable, RowRule, RuleStatements, engine_relations, frame_statements,
    rule_statements, stacked_counts, stacked_name, stacked_rows, view_statements,
};
use recon_rules::views::{BOOK_FRAMES, account_figures};
use recon_rules::{AccountFigure, Evaluation, Pack, PackError, Views, compile_with};
use std::collections::{BTreeMap, BTreeSet};
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

/// This recon's frames, empty: their schema is what an export must have and what the packs
/// are compiled against.
fn empty_frames() -> Result<Frames, EngineError> {
    build_frames(&Book::default(), &BTreeSet::new(), &[])
        .map_err(|e| EngineError::Internal(format!("cannot build the frame schema: {e}")))
}

/// Each frame's columns, with whether each is money.
fn columns_of(frames: &Frames) -> FrameColumns {
    frames
        .named()
        .into_iter()
        .map(|(name, df)| (name, money_columns(df)))
        .collect()
}

/// A frame's columns, with whether each is money (a decimal).
fn money_columns(df: &DataFrame) -> Vec<(String, bool)> {
    df.schema()
        .iter()
        .map(|(c, dtype)| (c.to_string(), dtype.is_decimal()))
        .collect()
}

/// When the config names books of record, the export carries exactly those: nothing is
/// compared against another book, or against none. (An export with a book checked by a
/// config without one runs no books pack: its book frames go unread.)
fn check_books(manifest: &ExportManifest, books: &[String]) -> Result<(), String> {
    if books.is_empty() {
        return Ok(());
    }
    let mut wanted = books.to_vec();
    wanted.sort();
    let mut exported = manifest.books.clone();
    exported.sort();
    if wanted == exported {
        return Ok(());
    }
    let names = |b: &[String]| match b.is_empty() {
        true => "no book".to_string(),
        false => b.join(", "),
    };
    Err(format!(
        "the export has {} and the config names {}: export the snapshot again with this config",
        names(&exported),
        names(&wanted)
    ))
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

/// Runs `packs` over the frames exported at `root`; `books` are the books of record the
/// config names, whose frames the export must carry.
pub async fn check(
    session: &SparkSession,
    root: &str,
    packs: &[Pack],
    overrides: &Overrides,
    books: &[String],
) -> Result<SparkRun, EngineError> {
    let started = Instant::now();
    let mut timings = Vec::new();
    for setting in SESSION_SETTINGS {
        session.sql(setting).await.map_err(EngineError::Spark)?;
    }
    let manifest = read_manifest(session, root).await?;
    check_books(&manifest, books).map_err(|reason| EngineError::Frames {
        root: root.to_string(),
        reason,
    })?;
    let (views, columns) = schema_of(&manifest, root)?;
    let compiled = compile_with(packs, &views, overrides)?;
    let relations = engine_relations(manifest.has_books());
    let statements = rule_statements(packs, &compiled, overrides, &relations)
        .map_err(EngineError::NotPortable)?;
    name_frames_and_views(session, root, &manifest, &columns).await?;
    timings.push((
        "spark.setup".to_string(),
        started.elapsed().as_millis() as u64,
    ));

    let rules_started = Instant::now();
    let outcomes = rule_outcomes(session, &statements).await;
    let results: Vec<(&recon_rules::CompiledRule, Outcome)> =
        compiled.iter().zip(outcomes?).collect();
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

/// Empty views of the canonical schema, to compile the packs against (the same checks, the
/// same messages as a local run, before Spark runs anything), and each frame's columns,
/// which must be the export's.
fn schema_of(manifest: &ExportManifest, root: &str) -> Result<(Views, FrameColumns), EngineError> {
    let empty = empty_frames()?;
    let mut views = Views::build(&empty, manifest.as_of)
        .map_err(|e| EngineError::Internal(format!("cannot build the views' schema: {e}")))?;
    let mut columns = columns_of(&empty);
    if manifest.has_books() {
        BookFrames::empty()
            .and_then(|b| views.add_books(&b, manifest.as_of))
            .map_err(|e| {
                EngineError::Internal(format!("cannot build the book views' schema: {e}"))
            })?;
        for name in BOOK_FRAMES {
            if let Some(df) = views.get(name) {
                columns.insert(name, money_columns(df));
            }
        }
    }
    for &frame in columns.keys() {
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
    Ok((views, columns))
}

/// The exported frames named in the session, and recon's views defined over them.
async fn name_frames_and_views(
    session: &SparkSession,
    root: &str,
    manifest: &ExportManifest,
    columns: &FrameColumns,
) -> Result<(), EngineError> {
    for (name, statement) in frame_statements(root, columns) {
        session.sql(&statement).await.map_err(|e| match e {
            SparkError::Statement { reason } => EngineError::Frames {
                root: root.to_string(),
                reason: format!("cannot name `{name}`: {reason}"),
            },
            other => EngineError::Spark(other),
        })?;
    }
    for (name, statement) in view_statements(manifest.as_of, columns) {
        session.sql(&statement).await.map_err(|e| match e {
            SparkError::Statement { reason } => {
                EngineError::Internal(format!("Spark cannot define view `{name}`: {reason}"))
            }
            other => EngineError::Spark(other),
        })?;
    }
    Ok(())
}

/// Rules sent at once: Spark runs their jobs side by side (one rule's small queries leave
/// a cluster mostly idle).
const RULES_AT_ONCE: usize = 4;

/// Each rule's counts and failing rows, in the rules' order. The counts of the row rules
/// of one view come from one scan of it (`stacked_counts`); if that statement fails, each
/// of its rules is counted alone, so one broken rule is that rule's error finding. Spark's
/// own error about a rule's SQL is that rule's error finding; losing the server fails the
/// run (nothing after could be trusted as checked).
async fn rule_outcomes(
    session: &SparkSession,
    statements: &[RuleStatements],
) -> Result<Vec<Outcome>, EngineError> {
    use futures::stream::{self, StreamExt};
    let mut by_view: BTreeMap<&str, Vec<(usize, &RowRule)>> = BTreeMap::new();
    for (place, statement) in statements.iter().enumerate() {
        if let Some(rule) = &statement.row_rule {
            by_view.entry(&rule.view).or_default().push((place, rule));
        }
    }
    // Per view, the counts of all its row rules in one statement and their failing rows in
    // another: two scans of the view (and of the P&L match under it) instead of two a rule.
    // A view whose stacked statement Spark refuses falls back to each rule's own statements,
    // so one bad rule is that rule's error finding, as locally.
    let stacked: Vec<_> = stream::iter(by_view)
        .map(|(view, rules)| async move {
            let counts = session.sql(&stacked_counts(view, &rules)).await;
            let rows = session.sql(&stacked_rows(view, &rules)).await;
            (rules, counts, rows)
        })
        .buffered(RULES_AT_ONCE)
        .collect()
        .await;
    let mut counted: BTreeMap<usize, DataFrame> = BTreeMap::new();
    let mut failing: BTreeMap<usize, DataFrame> = BTreeMap::new();
    // Spark refusing a statement leaves it to each rule's own; losing Spark ends the run.
    let refused_is_none = |result: Result<DataFrame, SparkError>| match result {
        Ok(frame) => Ok(Some(frame)),
        Err(SparkError::Statement { .. }) | Err(SparkError::Decode(_)) => Ok(None),
        Err(other) => Err(EngineError::Spark(other)),
    };
    for (rules, counts, rows) in stacked {
        let (counts, rows) = (refused_is_none(counts)?, refused_is_none(rows)?);
        for (place, rule) in &rules {
            if let Some(all) = &counts {
                counted.insert(*place, counts_of(all, *place)?);
            }
            if let Some(all) = &rows {
                failing.insert(*place, rows_of(all, *place, &rule.columns)?);
            }
        }
    }
    let (counted, failing) = (&counted, &failing);
    let outcomes: Vec<Result<Outcome, EngineError>> = stream::iter(statements.iter().enumerate())
        .map(|(place, statement)| async move {
            let counts = match counted.get(&place) {
                Some(frame) => Ok(frame.clone()),
                None => session.sql(&statement.counts).await,
            };
            let both = match counts {
                Ok(counts) => match failing.get(&place) {
                    Some(rows) => Ok((counts, rows.clone())),
                    None => session
                        .sql(&statement.rows)
                        .await
                        .map(|rows| (counts, rows)),
                },
                Err(e) => Err(e),
            };
            match both {
                Ok(frames) => Ok(Ok(frames)),
                Err(SparkError::Statement { reason }) | Err(SparkError::Decode(reason)) => {
                    Ok(Err(reason))
                }
                Err(other) => Err(EngineError::Spark(other)),
            }
        })
        .buffered(RULES_AT_ONCE)
        .collect()
        .await;
    outcomes.into_iter().collect()
}

/// One rule's failing and unknown rows out of a stacked statement, with the columns its own
/// statement would have returned (`__status`, then its result columns).
fn rows_of(
    all: &DataFrame,
    place: usize,
    columns: &[(String, String)],
) -> Result<DataFrame, EngineError> {
    use polars::prelude::{IntoLazy, col, lit};
    let status = stacked_name(place, "__status");
    let mut select = vec![col(status.as_str()).alias("__status")];
    for (_, name) in columns {
        select.push(col(stacked_name(place, name).as_str()).alias(name.as_str()));
    }
    all.clone()
        .lazy()
        .filter(
            col(status.as_str())
                .eq(lit("fail"))
                .or(col(status.as_str()).eq(lit("unknown"))),
        )
        .select(select)
        .collect()
        .map_err(|e| EngineError::Internal(format!("cannot read Spark's failing rows: {e}")))
}

/// One rule's `__status`, `__n` rows out of a stacked count.
fn counts_of(all: &DataFrame, place: usize) -> Result<DataFrame, EngineError> {
    use polars::prelude::{DataType, IntoLazy, col, lit};
    all.clone()
        .lazy()
        .filter(col("__rule").cast(DataType::Int64).eq(lit(place as i64)))
        .select([col("__status"), col("__n")])
        .collect()
        .map_err(|e| EngineError::Internal(format!("cannot read Spark's rule counts: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(books: &[&str]) -> ExportManifest {
        ExportManifest {
            schema_version: recon_frames::export::SCHEMA_VERSION,
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            exported_at: chrono::Utc::now(),
            brokers: Vec::new(),
            chunks: 1,
            frames: BTreeMap::new(),
            incomplete: Vec::new(),
            fetch_errors: Vec::new(),
            books: books.iter().map(|b| b.to_string()).collect(),
        }
    }

    #[test]
    fn the_export_must_carry_exactly_the_books_the_config_names() {
        let names = |b: &[&str]| b.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_books(&manifest(&["oms", "pms"]), &names(&["pms", "oms"])).is_ok());
        // Without a book in the config nothing is compared: the export's go unread.
        assert!(check_books(&manifest(&["oms"]), &[]).is_ok());
        let none = check_books(&manifest(&[]), &names(&["oms"])).unwrap_err();
        assert!(
            none.contains("the export has no book and the config names oms"),
            "{none}"
        );
        let other = check_books(&manifest(&["pms"]), &names(&["oms"])).unwrap_err();
        assert!(
            other.contains("has pms and the config names oms"),
            "{other}"
        );
    }
}
