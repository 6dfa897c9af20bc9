//! The canonical frames written as Parquet for another engine (`recon export`, read by
//! `recon check --engine spark`).
//!
//! Layout under the export folder: one dataset per frame, partitioned hive-style by broker
//! and account chunk — `<frame>/broker=<name>/chunk=<k>/part-0.parquet` — so a cluster
//! reads each partition in parallel and a reader can prune by broker. The `broker` column
//! lives in the path, not in the files (hive convention: Spark refuses a column that is in
//! both). Amounts stay `Decimal(38, 8)`. Positions and P&L rows carry `row_no`, their place
//! in the snapshot's order, which the P&L match goes by.
//!
//! With a book of record configured, its frames (the book's rows and the recon views, built
//! per chunk of accounts by the same code as a local check) follow as
//! `<frame>/chunk=<k>/part-0.parquet`, their `broker` a column.
//!
//! `manifest.json` (one line, so an engine can read it as one text row) says the business
//! date, the schema version, each frame's columns and row count, and what made the
//! snapshot incomplete; the reader checks it before anything runs. The export is written
//! into a hidden sibling folder and renamed into place only when whole, so a crash never
//! leaves a folder that looks like an export.

use crate::frames::Frames;
use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::*;
use recon_model::manifest::FetchErrorRecord;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bumped when a frame's columns or the layout change; a reader refuses another version.
pub const SCHEMA_VERSION: u32 = 1;

/// The column of positions and P&L rows that gives their place in the snapshot.
pub const ROW_NUMBER: &str = "row_no";

pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameInfo {
    /// The canonical columns, in order (`broker` included, though it is in the path).
    pub columns: Vec<String>,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportManifest {
    pub schema_version: u32,
    pub as_of: NaiveDate,
    pub exported_at: DateTime<Utc>,
    /// The brokers of the snapshot, whether or not they have rows.
    pub brokers: Vec<String>,
    pub chunks: usize,
    pub frames: BTreeMap<String, FrameInfo>,
    /// Accounts whose snapshot files could not all be read (`data_complete` false).
    pub incomplete: Vec<(String, String)>,
    /// What the snapshot's fetch could not get, by broker.
    pub fetch_errors: Vec<(String, FetchErrorRecord)>,
    /// The books of record whose frames the export carries (`[books.<name>]`), by name.
    #[serde(default)]
    pub books: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot write Parquet: {source}")]
    Parquet { path: PathBuf, source: PolarsError },
    #[error("{0} already exists: choose another folder or remove it")]
    Exists(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An export being written, chunk by chunk.
pub struct Exporter {
    out: PathBuf,
    staging: PathBuf,
    brokers: Vec<String>,
    chunks: usize,
    /// Rows written so far per frame: the next row number of positions and P&L.
    rows: BTreeMap<&'static str, u64>,
    columns: BTreeMap<&'static str, Vec<String>>,
    incomplete: BTreeSet<(String, String)>,
    fetch_errors: Vec<(String, FetchErrorRecord)>,
    /// Parts written of the book-of-record frames (`add_book_frames`).
    book_parts: usize,
    books: Vec<String>,
}

impl Exporter {
    /// Starts an export to `out`, which must not exist yet; `brokers` are the snapshot's.
    pub fn create(out: &Path, brokers: Vec<String>) -> Result<Exporter, ExportError> {
        if out.exists() {
            return Err(ExportError::Exists(out.to_path_buf()));
        }
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "export".into());
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
        let parent = parent.unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        let staging = parent.join(format!(".{name}.partial"));
        if staging.exists() {
            // A crashed export's leftovers: never complete, never read.
            std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        std::fs::create_dir_all(&staging).map_err(io(&staging))?;
        Ok(Exporter {
            out: out.to_path_buf(),
            staging,
            brokers,
            chunks: 0,
            rows: BTreeMap::new(),
            columns: BTreeMap::new(),
            incomplete: BTreeSet::new(),
            fetch_errors: Vec::new(),
            book_parts: 0,
            books: Vec::new(),
        })
    }

    /// Writes one part of the book-of-record frames (the book's rows and the recon views
    /// of one chunk of accounts, or what no chunk claimed): `<frame>/chunk=<k>/part-0.parquet`,
    /// partitioned by part only, `broker` kept in the file (a book row's broker may be
    /// unknown, and a hive path cannot hold a null). Every part has every frame, even empty.
    pub fn add_book_frames(
        &mut self,
        frames: &[(&'static str, DataFrame)],
    ) -> Result<(), ExportError> {
        let part = self.book_parts;
        self.book_parts += 1;
        for (name, df) in frames {
            self.remember_columns(name, df);
            *self.rows.entry(name).or_insert(0) += df.height() as u64;
            write_parquet(
                &self.staging.join(name).join(format!("chunk={part}")),
                &mut df.clone(),
            )?;
        }
        Ok(())
    }

    /// Writes one chunk's frames. Every broker of the chunk (and, in the first chunk, of
    /// the snapshot) gets a file per frame even when it has no rows, so every dataset has
    /// a schema to read.
    pub fn add_chunk(
        &mut self,
        frames: &Frames,
        incomplete: &BTreeSet<(String, String)>,
        fetch_errors: &[(String, FetchErrorRecord)],
    ) -> Result<(), ExportError> {
        let chunk = self.chunks;
        self.chunks += 1;
        self.incomplete.extend(incomplete.iter().cloned());
        self.fetch_errors.extend(fetch_errors.iter().cloned());
        let mut brokers: BTreeSet<String> = text_values(&frames.accounts, "broker");
        if chunk == 0 {
            brokers.extend(self.brokers.iter().cloned());
        }
        for (name, df) in frames.named() {
            self.remember_columns(name, df);
            let first = *self.rows.get(name).unwrap_or(&0);
            let mut df = df.clone();
            if matches!(name, "positions" | "pnl") {
                let numbers: Vec<i64> = (0..df.height() as i64).map(|i| i + first as i64).collect();
                df.with_column(Column::new(ROW_NUMBER.into(), numbers))
                    .map_err(|source| ExportError::Parquet {
                        path: self.staging.join(name),
                        source,
                    })?;
            }
            self.rows.insert(name, first + df.height() as u64);
            let mut these = brokers.clone();
            these.extend(text_values(&df, "broker"));
            for broker in &these {
                self.write_part(name, broker, chunk, &df)?;
            }
        }
        Ok(())
    }

    fn write_part(
        &self,
        frame: &str,
        broker: &str,
        chunk: usize,
        df: &DataFrame,
    ) -> Result<(), ExportError> {
        let dir = self
            .staging
            .join(frame)
            .join(format!("broker={broker}"))
            .join(format!("chunk={chunk}"));
        let path = dir.join("part-0.parquet");
        let parquet = |source: PolarsError| ExportError::Parquet {
            path: path.clone(),
            source,
        };
        let mask = df
            .column("broker")
            .and_then(|c| Ok(c.str()?.equal(broker)))
            .map_err(parquet)?;
        let mut part = df
            .filter(&mask)
            .and_then(|p| p.drop("broker"))
            .map_err(parquet)?;
        write_parquet(&dir, &mut part)
    }

    /// A frame's canonical columns, for the manifest (the first time it is written).
    fn remember_columns(&mut self, name: &'static str, df: &DataFrame) {
        self.columns.entry(name).or_insert_with(|| {
            df.get_column_names()
                .iter()
                .map(|c| c.to_string())
                .collect()
        });
    }

    /// Names the books of record whose frames `add_book_frames` writes.
    pub fn set_books(&mut self, names: Vec<String>) {
        self.books = names;
    }

    /// Writes the manifest and moves the export into place.
    pub fn finish(self, as_of: NaiveDate) -> Result<ExportManifest, ExportError> {
        let manifest = ExportManifest {
            schema_version: SCHEMA_VERSION,
            as_of,
            exported_at: Utc::now(),
            brokers: self.brokers.clone(),
            chunks: self.chunks,
            frames: self
                .columns
                .iter()
                .map(|(name, columns)| {
                    (
                        name.to_string(),
                        FrameInfo {
                            columns: columns.clone(),
                            rows: *self.rows.get(name).unwrap_or(&0),
                        },
                    )
                })
                .collect(),
            incomplete: self.incomplete.iter().cloned().collect(),
            fetch_errors: self.fetch_errors.clone(),
            books: self.books.clone(),
        };
        let path = self.staging.join(MANIFEST);
        let mut text = serde_json::to_string(&manifest).expect("a manifest serializes");
        text.push('\n');
        recon_model::files::write_atomic(&path, text.as_bytes()).map_err(io(&path))?;
        std::fs::rename(&self.staging, &self.out).map_err(io(&self.out))?;
        Ok(manifest)
    }
}

/// `df` as `dir/part-0.parquet`, the folder made first.
fn write_parquet(dir: &Path, df: &mut DataFrame) -> Result<(), ExportError> {
    let path = dir.join("part-0.parquet");
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let file = std::fs::File::create(&path).map_err(io(&path))?;
    ParquetWriter::new(file)
        .finish(df)
        .map_err(|source| ExportError::Parquet { path, source })?;
    Ok(())
}

fn text_values(df: &DataFrame, column: &str) -> BTreeSet<String> {
    df.column(column)
        .ok()
        .and_then(|c| c.str().ok())
        .map(|c| c.iter().flatten().map(str::to_string).collect())
        .unwrap_or_default()
}

impl ExportManifest {
    /// Whether the export carries a book of record's frames (`recon export` with `[books]`).
    pub fn has_books(&self) -> bool {
        self.frames.contains_key("position_recon")
    }
}

/// Reads and checks a manifest's text.
pub fn parse_manifest(text: &str) -> Result<ExportManifest, String> {
    let manifest: ExportManifest =
        serde_json::from_str(text.trim()).map_err(|e| format!("not an export manifest: {e}"))?;
    if manifest.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "schema version {} (this recon reads {SCHEMA_VERSION}): export the snapshot again",
            manifest.schema_version
        ));
    }
    for frame in crate::frames::FRAME_NAMES {
        if !manifest.frames.contains_key(frame) {
            return Err(format!("has no `{frame}` frame"));
        }
    }
    Ok(manifest)
}
