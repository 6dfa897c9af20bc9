//! The firm's own book of record (DESIGN.md "Book of record"), read from CSV or Parquet
//! files into the canonical `book_positions`, `book_cash` and `book_quarantine` frames.
//!
//! Every cell is read as text (a CSV column is never inferred as a float, a Parquet
//! number is cast to its exact text) and parsed with the same exact-decimal reader as
//! broker bodies. A row that cannot be read is quarantined with its file, line and column;
//! a missing required column, a glob that matches nothing or a book dated another day than
//! the run are errors naming the book, because then nothing of it can be trusted.

use crate::schema::{date, money, money_units, text};
use chrono::NaiveDate;
use polars::prelude::*;
use rayon::prelude::*;
use recon_model::instrument_key::instrument_key;
use recon_model::security_id;
use recon_model::{BookCashRow, BookPositionRow, BookProblem, Broker};
use recon_parse::exact;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A PostgreSQL source: the queries and the connection string (from the environment).
#[derive(Clone, Default)]
pub struct PgSpec {
    /// `postgres://user:password@host:port/db` or `host=… user=…`: holds a password, so it
    /// is never printed (Debug shows only whether it is set).
    pub url: String,
    /// SQL returning one row per lot; `$1` is the business date.
    pub positions_query: String,
    pub cash_query: Option<String>,
}

impl std::fmt::Debug for PgSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSpec")
            .field("url", &"[redacted]")
            .field("positions_query", &self.positions_query)
            .field("cash_query", &self.cash_query)
            .finish()
    }
}

/// One `[books.<name>]` source, as config gives it.
#[derive(Debug, Clone, Default)]
pub struct BookSpec {
    /// Read from PostgreSQL instead of files.
    pub postgres: Option<PgSpec>,
    pub name: String,
    /// A CSV or Parquet path or glob (`.parquet` files are Parquet, anything else CSV).
    pub positions: String,
    pub cash: Option<String>,
    /// Canonical column → the source's column name, where they differ.
    pub columns: BTreeMap<String, String>,
    pub cash_columns: BTreeMap<String, String>,
    /// The book's account → `broker:account_id` (E*TRADE accountId vs accountIdKey, …).
    pub accounts: BTreeMap<String, String>,
}

/// What a book gave.
#[derive(Debug, Default)]
pub struct BookRows {
    pub positions: Vec<BookPositionRow>,
    pub cash: Vec<BookCashRow>,
    pub problems: Vec<BookProblem>,
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("book `{book}`: {message}")]
    Refused { book: String, message: String },
}

fn refused(book: &str, message: impl Into<String>) -> BookError {
    BookError::Refused {
        book: book.to_string(),
        message: message.into(),
    }
}

const POSITION_REQUIRED: [&str; 4] = ["broker", "account", "symbol", "quantity"];
const POSITION_OPTIONAL: [&str; 8] = [
    "price",
    "market_value",
    "cost_basis",
    "currency",
    "as_of",
    "description",
    "cusip",
    "isin",
];
const CASH_REQUIRED: [&str; 4] = ["broker", "account", "currency", "amount"];
const CASH_OPTIONAL: [&str; 1] = ["as_of"];

/// The files a path or glob names, sorted; none is an error.
fn files(book: &str, pattern: &str) -> Result<Vec<PathBuf>, BookError> {
    let mut found: Vec<PathBuf> = glob::glob(pattern)
        .map_err(|e| {
            refused(
                book,
                format!("`{pattern}` is not a valid path or glob: {e}"),
            )
        })?
        .filter_map(Result::ok)
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(refused(book, format!("`{pattern}` matches no file")));
    }
    Ok(found)
}

/// A Parquet file as text columns (a number cast to its exact text).
fn read_parquet_frame(book: &str, path: &Path) -> Result<DataFrame, BookError> {
    let file =
        std::fs::File::open(path).map_err(|e| refused(book, format!("{}: {e}", path.display())))?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| refused(book, format!("{}: {e}", path.display())))?;
    let columns = df
        .columns()
        .iter()
        .map(|c| c.cast(&DataType::String))
        .collect::<PolarsResult<Vec<_>>>()
        .map_err(|e| refused(book, format!("{}: {e}", path.display())))?;
    DataFrame::new(df.height(), columns).map_err(|e| refused(book, e.to_string()))
}

/// The source column of each canonical one present, after the mapping; a required one
/// missing is an error naming it and the file, and so is a mapping for a column recon does
/// not read (a misspelt `isn = "ISIN"` would otherwise be ignored, and the book matched
/// without it).
fn resolve(
    book: &str,
    path: &Path,
    names: &[String],
    mapping: &BTreeMap<String, String>,
    required: &[&'static str],
    optional: &[&'static str],
) -> Result<BTreeMap<&'static str, usize>, BookError> {
    let mut out = BTreeMap::new();
    let all: Vec<(&'static str, bool)> = required
        .iter()
        .map(|c| (*c, true))
        .chain(optional.iter().map(|c| (*c, false)))
        .collect();
    if let Some(unknown) = mapping.keys().find(|k| !all.iter().any(|(c, _)| c == k)) {
        let names: Vec<&str> = all.iter().map(|(c, _)| *c).collect();
        return Err(refused(
            book,
            format!(
                "the column mapping names `{unknown}`, which is not a column recon reads from {} (it reads {})",
                path.display(),
                names.join(", ")
            ),
        ));
    }
    for (canonical, needed) in all {
        let source = mapping.get(canonical).map_or(canonical, String::as_str);
        let mut found = names.iter().enumerate().filter(|(_, n)| *n == source);
        match (found.next(), found.next()) {
            (Some(_), Some(_)) => {
                // Two columns of one name: which one holds the value is anyone's guess.
                return Err(refused(
                    book,
                    format!(
                        "{} has two columns named `{source}` (for `{canonical}`)",
                        path.display()
                    ),
                ));
            }
            (Some((i, _)), None) => {
                out.insert(canonical, i);
            }
            (None, _) if needed => {
                return Err(refused(
                    book,
                    format!(
                        "{} has no column `{source}` (for `{canonical}`{}); its columns: {}",
                        path.display(),
                        if source == canonical {
                            ", map it with columns = { … }".to_string()
                        } else {
                            " as mapped".to_string()
                        },
                        names.join(", ")
                    ),
                ));
            }
            (None, _) => {}
        }
    }
    Ok(out)
}

/// Reads every file of a book straight into its frames. `as_of` is the run's business
/// date: a row dated otherwise refuses the whole book.
pub fn read_book(spec: &BookSpec, as_of: NaiveDate) -> Result<BookFrames, BookError> {
    if let Some(pg) = &spec.postgres {
        return postgres::read(spec, pg, as_of);
    }
    let mut parts = Vec::new();
    for path in files(&spec.name, &spec.positions)? {
        parts.push(read_file(spec, &path, as_of, Part::Positions)?);
    }
    if let Some(cash) = &spec.cash {
        for path in files(&spec.name, cash)? {
            parts.push(read_file(spec, &path, as_of, Part::Cash)?);
        }
    }
    BookFrames::concat(parts).map_err(|e| refused(&spec.name, e.to_string()))
}

/// The line a row index is on: the header is line 1 of a CSV file.
fn line_of(path: &Path, i: usize) -> u64 {
    // Parquet files and query results count rows from 1; a CSV file's header is line 1.
    let header = !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        && !path.to_string_lossy().starts_with("postgres:");
    i as u64 + if header { 2 } else { 1 }
}

/// Where a book's rows come from, and the run's date they must be of.
struct RowContext<'a> {
    spec: &'a BookSpec,
    path: &'a Path,
    as_of: NaiveDate,
}

/// The cells of one block of rows of a file or query, by canonical name (after the
/// mapping), and what the reader already found wrong with a row.
struct Cells<'a> {
    columns: BTreeMap<&'static str, SourceColumn<'a>>,
    /// The rows as a CSV file gave them (their lines, and rows that could not be read as
    /// text at all); `None` for a text frame.
    csv: Option<&'a CsvBlock>,
}

impl<'a> Cells<'a> {
    /// The column for `name`, if the source has it: looked up once per block, not per row.
    fn column(&self, name: &str) -> SourceColumn<'a> {
        self.columns
            .get(name)
            .copied()
            .unwrap_or(SourceColumn::Absent)
    }

    /// Why row `i` could not be read at all (not UTF-8, a ragged line), if so.
    fn unreadable(&self, i: usize) -> Option<&'a str> {
        self.csv
            .and_then(|b| b.unreadable.get(&i))
            .map(String::as_str)
    }
}

/// Where one canonical column's cells are.
#[derive(Clone, Copy)]
enum SourceColumn<'a> {
    Absent,
    /// A slice of a text column (a Parquet file's, a query's) that starts at row `first`.
    Text(&'a StringChunked, usize),
    /// Field number `field` of a block of CSV rows.
    Csv(&'a CsvBlock, usize),
}

impl<'a> SourceColumn<'a> {
    /// Row `i`'s cell (`i` counted in the whole source), trimmed; `None` when the column is
    /// absent or the cell empty.
    fn at(self, i: usize) -> Option<&'a str> {
        match self {
            SourceColumn::Absent => None,
            SourceColumn::Text(c, first) => c.get(i - first),
            SourceColumn::Csv(block, field) => block.cell(i, field),
        }
        .map(str::trim)
        .filter(|v| !v.is_empty())
    }
}

/// Rows of a CSV file as the `csv` crate read them: every field's text in one buffer.
#[derive(Default)]
struct CsvBlock {
    /// The row number (from 0, after the header) of the block's first row.
    first: usize,
    text: String,
    /// Where each field ends in `text`; a field starts where the one before it ends.
    ends: Vec<usize>,
    /// Row `r`'s fields are `ends[rows[r]..rows[r + 1]]`.
    rows: Vec<usize>,
    /// The line each row starts on (a quoted field may hold line breaks).
    lines: Vec<u64>,
    /// Rows that cannot be read, by row number: why.
    unreadable: std::collections::HashMap<usize, String>,
}

impl CsvBlock {
    fn starting_at(first: usize) -> CsvBlock {
        CsvBlock {
            first,
            rows: vec![0],
            ..CsvBlock::default()
        }
    }

    /// The block after `self`, with room for as much as `self` holds: blocks of one file
    /// are alike, and a block grown by doubling copied its text several times over.
    fn next(&self) -> CsvBlock {
        let mut rows = Vec::with_capacity(self.rows.len());
        rows.push(0);
        CsvBlock {
            first: self.first + self.len(),
            text: String::with_capacity(self.text.len()),
            ends: Vec::with_capacity(self.ends.len()),
            rows,
            lines: Vec::with_capacity(self.lines.len()),
            unreadable: Default::default(),
        }
    }

    fn len(&self) -> usize {
        self.lines.len()
    }

    /// Appends one record; a field that is not UTF-8 or a record wider than the header makes
    /// its row unreadable (its cells are kept, lossily, to name its account). A record
    /// narrower than the header has its last columns empty, as polars' reader and most
    /// exports read it (a spreadsheet drops trailing empty cells): an empty required cell
    /// still quarantines the row, by the column's name.
    fn push(&mut self, record: &csv::ByteRecord, width: usize) {
        let row = self.first + self.len();
        // The usual record is text throughout: checked and copied whole, its fields' ends
        // taken from the record's own.
        if let Ok(text) = std::str::from_utf8(record.as_slice()) {
            let base = self.text.len();
            self.text.push_str(text);
            self.ends
                .extend((0..record.len()).filter_map(|k| Some(base + record.range(k)?.end)));
        } else {
            self.push_fields(record, row);
        }
        if record.len() > width {
            self.unreadable
                .entry(row)
                .or_insert_with(|| format!("{} fields where the header has {width}", record.len()));
        }
        self.rows.push(self.ends.len());
        self.lines.push(record.position().map_or(0, |p| p.line()));
    }

    /// A record with a field that is not UTF-8, field by field: the row is unreadable, its
    /// fields kept lossily (so its account can still be named).
    fn push_fields(&mut self, record: &csv::ByteRecord, row: usize) {
        for (n, field) in record.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(text) => self.text.push_str(text),
                Err(_) => {
                    self.text.push_str(&String::from_utf8_lossy(field));
                    self.unreadable
                        .entry(row)
                        .or_insert_with(|| format!("field {} is not UTF-8 text", n + 1));
                }
            }
            self.ends.push(self.text.len());
        }
    }

    /// Row `i`'s field `field`, as read (`None` past the end of a short row).
    fn cell(&self, i: usize, field: usize) -> Option<&str> {
        let r = i - self.first;
        let (start, end) = (self.rows[r], self.rows[r + 1]);
        if field >= end - start {
            return None;
        }
        let k = start + field;
        let from = if k == 0 { 0 } else { self.ends[k - 1] };
        Some(&self.text[from..self.ends[k]])
    }
}

/// Blocks of at most `ROWS_PER_BLOCK` rows that never cross a chunk of the source's columns
/// (polars' CSV reader hands a file back in chunks, a few tens of thousands of rows each):
/// a block's slice of a column is then one array, read by index directly. Making each
/// column one chunk first copied every cell of a million-line book on one core (~0.3 s).
fn blocks_of(columns: &BTreeMap<&'static str, StringChunked>) -> Vec<std::ops::Range<usize>> {
    let lengths: Vec<usize> = columns
        .values()
        .next()
        .map(|c| c.chunk_lengths().collect())
        .unwrap_or_default();
    let mut blocks = Vec::new();
    let mut start = 0;
    for length in lengths {
        let end = start + length;
        while start < end {
            let stop = (start + ROWS_PER_BLOCK).min(end);
            blocks.push(start..stop);
            start = stop;
        }
    }
    blocks
}

impl RowContext<'_> {
    fn problem(&self, i: usize, column: Option<&str>, reason: String) -> Box<BookProblem> {
        Box::new(BookProblem {
            book: self.spec.name.clone(),
            broker: None,
            account_id: None,
            source: self.path.display().to_string(),
            line: line_of(self.path, i),
            column: column.map(str::to_string),
            reason,
        })
    }

    /// The row's broker and account id, through the alias map.
    fn place<'s>(
        &'s self,
        i: usize,
        broker: Option<&str>,
        account: Option<&'s str>,
    ) -> Result<(Broker, &'s str), Box<BookProblem>> {
        let account =
            account.ok_or_else(|| self.problem(i, Some("account"), "no account".into()))?;
        // A declared alias names the broker and the account id recon uses.
        if let Some(target) = self.spec.accounts.get(account) {
            let (b, id) = target.split_once(':').ok_or_else(|| {
                self.problem(
                    i,
                    Some("account"),
                    format!("alias `{target}` is not broker:account_id"),
                )
            })?;
            let broker = b
                .parse::<Broker>()
                .map_err(|e| self.problem(i, Some("account"), format!("alias `{target}`: {e}")))?;
            return Ok((broker, id));
        }
        let broker = broker.ok_or_else(|| self.problem(i, Some("broker"), "no broker".into()))?;
        let broker = parse_broker(broker).map_err(|e| self.problem(i, Some("broker"), e))?;
        Ok((broker, account))
    }

    fn date_ok(&self, i: usize, value: Option<&str>) -> Result<(), BookError> {
        let Some(v) = value else {
            return Ok(());
        };
        match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            Ok(d) if d == self.as_of => Ok(()),
            Ok(d) => Err(refused(
                &self.spec.name,
                format!(
                    "{} line {} is as of {d}, the run is as of {}: a book of another day is not compared",
                    self.path.display(),
                    line_of(self.path, i),
                    self.as_of
                ),
            )),
            Err(e) => Err(refused(
                &self.spec.name,
                format!(
                    "{} line {}: as_of `{v}` is not a date ({e})",
                    self.path.display(),
                    line_of(self.path, i)
                ),
            )),
        }
    }

    /// A cell the row cannot do without.
    fn required<'v>(
        &self,
        i: usize,
        column: &str,
        value: Option<&'v str>,
    ) -> Result<&'v str, Box<BookProblem>> {
        value.ok_or_else(|| self.problem(i, Some(column), format!("no {column}")))
    }

    /// A number the row cannot do without.
    fn required_number(
        &self,
        i: usize,
        column: &str,
        value: Option<&str>,
    ) -> Result<i128, Box<BookProblem>> {
        self.number(i, column, value)?
            .ok_or_else(|| self.problem(i, Some(column), format!("no {column}")))
    }

    /// The CUSIP a row states: its `cusip` cell, or the one inside its US or Canadian
    /// `isin`; a cell that is not a valid identifier, or two that name different
    /// securities, make the row unreadable (a wrong identifier must not match silently).
    fn cusip<'v>(
        &self,
        i: usize,
        cusip: Option<&'v str>,
        isin: Option<&'v str>,
    ) -> Result<Option<Cow<'v, str>>, Box<BookProblem>> {
        let from_cusip = cusip
            .map(security_id::cusip)
            .transpose()
            .map_err(|e| self.problem(i, Some("cusip"), e))?;
        let from_isin = isin
            .map(security_id::cusip_of_isin)
            .transpose()
            .map_err(|e| self.problem(i, Some("isin"), e))?
            .flatten();
        match (from_cusip, from_isin) {
            (Some(c), Some(inside)) if c != inside => Err(self.problem(
                i,
                Some("isin"),
                format!(
                    "cusip `{c}` and isin `{}` name different securities",
                    isin.unwrap_or("")
                ),
            )),
            (c, inside) => Ok(c.or(inside)),
        }
    }

    /// Every row of `rows`: its date checked (another day refuses the book), then `read`;
    /// what it reads goes to `keep`, a row it cannot read to `problems` with the row's
    /// broker and account as written.
    fn each_row<T>(
        &self,
        cells: &Cells,
        rows: std::ops::Range<usize>,
        problems: &mut Vec<BookProblem>,
        read: impl Fn(usize) -> Result<T, Box<BookProblem>>,
        mut keep: impl FnMut(usize, T),
    ) -> Result<(), BookError> {
        let as_of = cells.column("as_of");
        for i in rows {
            if let Some(reason) = cells.unreadable(i) {
                problems.push(with_place(*self.problem(i, None, reason.into()), cells, i));
                continue;
            }
            self.date_ok(i, as_of.at(i))?;
            match read(i) {
                Ok(row) => keep(i, row),
                Err(p) => problems.push(with_place(*p, cells, i)),
            }
        }
        Ok(())
    }

    /// An exact number from a cell, as the frame's i128 units; `Ok(None)` for an empty one.
    fn number(
        &self,
        i: usize,
        column: &str,
        value: Option<&str>,
    ) -> Result<Option<i128>, Box<BookProblem>> {
        let Some(v) = value else {
            return Ok(None);
        };
        // Thousands separators are allowed (`1,000.10`); most cells have none, so most
        // cells are parsed where they lie.
        let parsed = if v.contains(',') {
            exact::parse_decimal(&v.replace(',', ""))
        } else {
            exact::parse_decimal(v)
        };
        match parsed {
            Some(d) if exact::out_of_range(&d) => Err(self.problem(
                i,
                Some(column),
                format!("`{v}` is out of range (|x| ≥ 10^{})", exact::LIMIT_DIGITS),
            )),
            Some(d) => Ok(Some(exact::to_units(d))),
            None => Err(self.problem(i, Some(column), format!("`{v}` is not a number"))),
        }
    }
}

/// A broker name as a book may write it (any case, surrounding blanks).
fn parse_broker(name: &str) -> Result<Broker, String> {
    name.parse::<Broker>()
        .or_else(|_| name.to_ascii_lowercase().parse::<Broker>())
        .map_err(|e| e.to_string())
}

/// Which part of a book a file or query holds.
#[derive(Debug, Clone, Copy)]
enum Part {
    Positions,
    Cash,
}

fn read_file(
    spec: &BookSpec,
    path: &Path,
    as_of: NaiveDate,
    part: Part,
) -> Result<BookFrames, BookError> {
    let ctx = RowContext { spec, path, as_of };
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        let df = read_parquet_frame(&spec.name, path)?;
        return read_frame(&ctx, &df, part);
    }
    read_csv(&ctx, part)
}

/// The canonical columns `part` reads from a source with these column names.
fn resolve_part(
    ctx: &RowContext,
    names: &[String],
    part: Part,
) -> Result<BTreeMap<&'static str, usize>, BookError> {
    let (mapping, required, optional): (_, &[&'static str], &[&'static str]) = match part {
        Part::Positions => (&ctx.spec.columns, &POSITION_REQUIRED, &POSITION_OPTIONAL),
        Part::Cash => (&ctx.spec.cash_columns, &CASH_REQUIRED, &CASH_OPTIONAL),
    };
    resolve(&ctx.spec.name, ctx.path, names, mapping, required, optional)
}

/// A CSV file, read with the `csv` crate: one thread reads records into blocks of
/// `ROWS_PER_BLOCK` rows (the text of each field once, in one buffer per block) while the
/// other cores turn finished blocks into frames. Reading the file as a polars frame of text
/// first cost twice the CPU (its columns built, then read cell by cell).
fn read_csv(ctx: &RowContext, part: Part) -> Result<BookFrames, BookError> {
    let book = ctx.spec.name.as_str();
    let failed = |e: &dyn std::fmt::Display| refused(book, format!("{}: {e}", ctx.path.display()));
    let file = std::fs::File::open(ctx.path).map_err(|e| failed(&e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        // Ragged rows are read and quarantined one by one, not a reason to stop reading.
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(file);
    let names: Vec<String> = reader
        .byte_headers()
        .map_err(|e| failed(&e))?
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    let resolved = resolve_part(ctx, &names, part)?;
    let read_block = |block: &CsvBlock| {
        let cells = Cells {
            columns: resolved
                .iter()
                .map(|(k, field)| (*k, SourceColumn::Csv(block, *field)))
                .collect(),
            csv: Some(block),
        };
        block_frame(ctx, &cells, block.first..block.first + block.len(), part)
    };
    let done = std::sync::Mutex::new(Vec::new());
    let read: Result<usize, BookError> = rayon::scope(|scope| {
        let (done, read_block) = (&done, &read_block);
        let hand_over = |n: usize, block: CsvBlock| {
            scope.spawn(move |_| {
                let frame = read_block(&block);
                done.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((n, frame));
            })
        };
        let (mut record, mut block, mut n) = (csv::ByteRecord::new(), CsvBlock::starting_at(0), 0);
        while reader
            .read_byte_record(&mut record)
            .map_err(|e| failed(&e))?
        {
            block.push(&record, names.len());
            if block.len() == ROWS_PER_BLOCK {
                let next = block.next();
                hand_over(n, std::mem::replace(&mut block, next));
                n += 1;
            }
        }
        if block.len() > 0 {
            hand_over(n, block);
            n += 1;
        }
        Ok(n)
    });
    read?;
    let mut blocks = done.into_inner().unwrap_or_else(|e| e.into_inner());
    blocks.sort_unstable_by_key(|(n, _)| *n);
    assemble(ctx, blocks.into_iter().map(|(_, b)| b), part)
}

/// Every row of a text frame (a Parquet file's or a query's) into the book frames, or a
/// problem naming its line and column. Rows go straight into columns: a book of a million
/// lots is not copied into row structs on the way.
fn read_frame(ctx: &RowContext, df: &DataFrame, part: Part) -> Result<BookFrames, BookError> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let resolved = resolve_part(ctx, &names, part)?;
    let columns = df.columns();
    let resolved: BTreeMap<&'static str, StringChunked> = resolved
        .into_iter()
        .map(|(k, i)| Ok((k, columns[i].str()?.clone())))
        .collect::<PolarsResult<_>>()
        .map_err(|e| refused(&ctx.spec.name, e.to_string()))?;
    // Blocks of rows on every core, put back together in source order.
    let read: Vec<Result<Block, BookError>> = blocks_of(&resolved)
        .into_par_iter()
        .map(|rows| {
            let sliced: BTreeMap<&'static str, StringChunked> = resolved
                .iter()
                .map(|(k, c)| (*k, c.slice(rows.start as i64, rows.len())))
                .collect();
            let cells = Cells {
                columns: sliced
                    .iter()
                    .map(|(k, c)| (*k, SourceColumn::Text(c, rows.start)))
                    .collect(),
                csv: None,
            };
            block_frame(ctx, &cells, rows, part)
        })
        .collect();
    assemble(ctx, read, part)
}

/// One block of rows into its frame and the rows it quarantined.
fn block_frame(
    ctx: &RowContext,
    cells: &Cells,
    rows: std::ops::Range<usize>,
    part: Part,
) -> Result<Block, BookError> {
    let mut problems = Vec::new();
    let frame = match part {
        Part::Positions => position_frame(ctx, cells, rows, &mut problems)?,
        Part::Cash => cash_frame(ctx, cells, rows, &mut problems)?,
    };
    let frame = frame.map_err(|e| refused(&ctx.spec.name, e.to_string()))?;
    Ok((frame, problems))
}

/// The blocks' frames and quarantines, in order, as one part of a book.
fn assemble(
    ctx: &RowContext,
    blocks: impl IntoIterator<Item = Result<Block, BookError>>,
    part: Part,
) -> Result<BookFrames, BookError> {
    let book = ctx.spec.name.as_str();
    let mut frame: Option<DataFrame> = None;
    let mut problems = Vec::new();
    for block in blocks {
        let (part_frame, part_problems) = block?;
        match &mut frame {
            Some(f) => {
                f.vstack_mut_owned(part_frame)
                    .map_err(|e| refused(book, e.to_string()))?;
            }
            None => frame = Some(part_frame),
        }
        problems.extend(part_problems);
    }
    let empty = BookFrames::empty().map_err(|e| refused(book, e.to_string()))?;
    let quarantine = quarantine_frame(&problems).map_err(|e| refused(book, e.to_string()))?;
    Ok(match part {
        // No row at all: the empty frame of its part.
        Part::Positions => BookFrames {
            positions: frame.unwrap_or_else(|| empty.positions.clone()),
            quarantine,
            ..empty
        },
        Part::Cash => BookFrames {
            cash: frame.unwrap_or_else(|| empty.cash.clone()),
            quarantine,
            ..empty
        },
    })
}

/// A problem row with the row's broker and account as written, so its finding names where
/// it belongs.
fn with_place(mut p: BookProblem, cells: &Cells, i: usize) -> BookProblem {
    p.broker = cells.column("broker").at(i).map(|v| v.to_ascii_lowercase());
    p.account_id = cells.column("account").at(i).map(str::to_string);
    // A CSV row's own line: a quoted field before it may have spanned several.
    if let Some(block) = cells.csv {
        p.line = block.lines[i - block.first];
    }
    p
}

/// The columns every book frame starts with: the book, and the row's broker and account.
#[derive(Default)]
struct Placed<'a> {
    broker: Vec<&'static str>,
    account_id: Vec<&'a str>,
}

impl<'a> Placed<'a> {
    fn push(&mut self, broker: Broker, account_id: &'a str) {
        self.broker.push(broker.as_str());
        self.account_id.push(account_id);
    }

    fn columns(&self, book: &str) -> Vec<Column> {
        vec![
            StringChunked::full("book".into(), book, self.broker.len()).into_column(),
            text("broker", self.broker.iter().map(|b| Some(*b))),
            text("account_id", self.account_id.iter().map(|a| Some(*a))),
        ]
    }
}

fn as_of_column(as_of: NaiveDate, len: usize) -> Column {
    date("as_of", std::iter::repeat_n(Some(as_of), len))
}

/// A currency as the frames hold it: upper case (most books already write it so).
fn currency(c: &str) -> Cow<'_, str> {
    if c.bytes().any(|b| b.is_ascii_lowercase()) {
        c.to_ascii_uppercase().into()
    } else {
        c.into()
    }
}

/// A block of rows read: its frame and the rows it quarantined.
type Block = (DataFrame, Vec<BookProblem>);

/// Rows read per block: enough that a block's frame is not mostly overhead, few enough
/// that both cores get work from a book of a few hundred thousand rows.
const ROWS_PER_BLOCK: usize = 1 << 16;

fn position_frame(
    ctx: &RowContext,
    cells: &Cells,
    rows: std::ops::Range<usize>,
    problems: &mut Vec<BookProblem>,
) -> Result<PolarsResult<DataFrame>, BookError> {
    let [
        broker,
        account,
        symbol,
        quantity,
        price,
        market_value,
        cost_basis,
        currency_cell,
        cusip,
        isin,
    ] = [
        "broker",
        "account",
        "symbol",
        "quantity",
        "price",
        "market_value",
        "cost_basis",
        "currency",
        "cusip",
        "isin",
    ]
    .map(|name| cells.column(name));
    let mut placed = Placed::default();
    let mut symbols: Vec<&str> = Vec::with_capacity(rows.len());
    let mut amounts: [Vec<Option<i128>>; 4] = Default::default();
    let mut currencies = Vec::with_capacity(rows.len());
    let mut cusips: Vec<Option<Cow<str>>> = Vec::with_capacity(rows.len());
    let read = |i| {
        let (b, a) = ctx.place(i, broker.at(i), account.at(i))?;
        let s = ctx.required(i, "symbol", symbol.at(i))?;
        let q = ctx.required_number(i, "quantity", quantity.at(i))?;
        let p = ctx.number(i, "price", price.at(i))?;
        let mv = ctx.number(i, "market_value", market_value.at(i))?;
        let cb = ctx.number(i, "cost_basis", cost_basis.at(i))?;
        let c = ctx.cusip(i, cusip.at(i), isin.at(i))?;
        Ok((b, a, s, [Some(q), p, mv, cb], c))
    };
    ctx.each_row(cells, rows, problems, read, |i, (b, a, s, values, c)| {
        placed.push(b, a);
        symbols.push(s);
        for (column, v) in amounts.iter_mut().zip(values) {
            column.push(v);
        }
        currencies.push(currency(currency_cell.at(i).unwrap_or("USD")));
        cusips.push(c);
    })?;
    let [q, p, mv, cb] = amounts;
    let (symbol_column, keys) = match symbols_and_keys(symbols.iter().map(|s| Some(*s)), ctx.as_of)
    {
        Ok(columns) => columns,
        Err(e) => return Ok(Err(e)),
    };
    let mut columns = placed.columns(&ctx.spec.name);
    columns.extend([
        keys.into_column(),
        symbol_column.into_column(),
        money_units("quantity", q),
        money_units("price", p),
        money_units("market_value", mv),
        money_units("cost_basis", cb),
        text("currency", currencies.iter().map(|c| Some(c.as_ref()))),
        as_of_column(ctx.as_of, symbols.len()),
        text("cusip", cusips.iter().map(Option::as_deref)),
    ]);
    Ok(DataFrame::new(symbols.len(), columns))
}

fn cash_frame(
    ctx: &RowContext,
    cells: &Cells,
    rows: std::ops::Range<usize>,
    problems: &mut Vec<BookProblem>,
) -> Result<PolarsResult<DataFrame>, BookError> {
    let [broker, account, currency_cell, amount] =
        ["broker", "account", "currency", "amount"].map(|name| cells.column(name));
    let mut placed = Placed::default();
    let mut currencies = Vec::with_capacity(rows.len());
    let mut amounts = Vec::with_capacity(rows.len());
    let read = |i| {
        let (b, a) = ctx.place(i, broker.at(i), account.at(i))?;
        let c = ctx.required(i, "currency", currency_cell.at(i))?;
        let v = ctx.required_number(i, "amount", amount.at(i))?;
        Ok((b, a, c, v))
    };
    ctx.each_row(cells, rows, problems, read, |_, (b, a, c, v)| {
        placed.push(b, a);
        currencies.push(currency(c));
        amounts.push(Some(v));
    })?;
    let len = amounts.len();
    let mut columns = placed.columns(&ctx.spec.name);
    columns.extend([
        text("currency", currencies.iter().map(|c| Some(c.as_ref()))),
        money_units("amount", amounts),
        as_of_column(ctx.as_of, len),
    ]);
    Ok(DataFrame::new(len, columns))
}

/// The PostgreSQL source: each query's rows are read into text cells (NUMERIC exactly,
/// through rust_decimal's own mapping) and then become rows exactly as a file's would.
mod postgres {
    use super::*;
    use tokio_postgres::types::Type;

    fn refuse(book: &str, e: impl std::fmt::Display) -> BookError {
        refused(book, format!("PostgreSQL: {e}"))
    }

    /// Whether every host of the connection string is this machine (or a Unix socket):
    /// only then may it go without TLS.
    fn loopback(config: &tokio_postgres::Config) -> bool {
        use tokio_postgres::config::Host;
        !config.get_hosts().is_empty()
            && config.get_hosts().iter().all(|h| match h {
                Host::Tcp(name) => {
                    name.eq_ignore_ascii_case("localhost")
                        || name
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback())
                }
                #[cfg(unix)]
                Host::Unix(_) => true,
            })
    }

    /// A cell as exact text: NUMERIC through rust_decimal, integers and text as they are;
    /// a float column is refused (cast it to numeric in the query).
    fn cell(row: &tokio_postgres::Row, i: usize) -> Result<Option<String>, String> {
        let ty = row.columns()[i].type_().clone();
        let text = match ty {
            Type::NUMERIC => row
                .try_get::<_, Option<rust_decimal::Decimal>>(i)
                .map(|v| v.map(|d| d.to_string())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|n| n.to_string())),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|n| n.to_string())),
            Type::INT8 => row
                .try_get::<_, Option<i64>>(i)
                .map(|v| v.map(|n| n.to_string())),
            Type::DATE => row
                .try_get::<_, Option<NaiveDate>>(i)
                .map(|v| v.map(|d| d.to_string())),
            Type::FLOAT4 | Type::FLOAT8 => {
                return Err(format!(
                    "is a float ({ty}): cast it to numeric in the query so it stays exact"
                ));
            }
            _ => row.try_get::<_, Option<String>>(i),
        };
        text.map_err(|e| e.to_string())
    }

    /// Runs `query` and turns its rows into a text frame, columns named as the query names
    /// them.
    async fn frame(
        client: &tokio_postgres::Client,
        book: &str,
        query: &str,
        as_of: NaiveDate,
    ) -> Result<DataFrame, BookError> {
        let statement = client
            .prepare(query)
            .await
            .map_err(|e| refuse(book, format!("{e} (in `{query}`)")))?;
        // `$1` is the business date, when the query takes it.
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            if statement.params().is_empty() {
                vec![]
            } else {
                vec![&as_of]
            };
        let rows = client
            .query(&statement, &params)
            .await
            .map_err(|e| refuse(book, format!("{e} (in `{query}`)")))?;
        let Some(first) = rows.first() else {
            return Ok(DataFrame::empty());
        };
        let names: Vec<String> = first
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let mut columns: Vec<Vec<Option<String>>> =
            vec![Vec::with_capacity(rows.len()); names.len()];
        for row in &rows {
            for (i, column) in columns.iter_mut().enumerate() {
                let value =
                    cell(row, i).map_err(|e| refuse(book, format!("column `{}` {e}", names[i])))?;
                column.push(value);
            }
        }
        let columns = names
            .iter()
            .zip(columns)
            .map(|(name, values)| {
                StringChunked::from_iter_options(name.as_str().into(), values.into_iter())
                    .into_column()
            })
            .collect();
        DataFrame::new(rows.len(), columns).map_err(|e| refused(book, e.to_string()))
    }

    pub(super) fn read(
        spec: &BookSpec,
        pg: &PgSpec,
        as_of: NaiveDate,
    ) -> Result<BookFrames, BookError> {
        let book = spec.name.as_str();
        if pg.url.trim().is_empty() {
            return Err(refused(
                book,
                format!(
                    "no connection string: set RECON_BOOKS__{}__URL",
                    book.to_ascii_uppercase()
                ),
            ));
        }
        let config: tokio_postgres::Config = pg
            .url
            .parse()
            // The connection string holds a password: never echo it.
            .map_err(|_| {
                refuse(
                    book,
                    "the connection string cannot be read (it is not shown: it holds a password)",
                )
            })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| refuse(book, e))?;
        runtime.block_on(async {
            let client = if loopback(&config) {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| refuse(book, e))?;
                tokio::spawn(connection);
                client
            } else {
                // Off this machine, TLS checked against the system's roots, always.
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
                let tls = rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let mut config = config.clone();
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                let (client, connection) = config
                    .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
                    .await
                    .map_err(|e| refuse(book, e))?;
                tokio::spawn(connection);
                client
            };
            let source = format!("postgres:{book}");
            let ctx = RowContext {
                spec,
                path: Path::new(&source),
                as_of,
            };
            let mut parts = Vec::new();
            let positions = frame(&client, book, &pg.positions_query, as_of).await?;
            if positions.height() > 0 {
                parts.push(read_frame(&ctx, &positions, Part::Positions)?);
            }
            if let Some(query) = &pg.cash_query {
                let cash = frame(&client, book, query, as_of).await?;
                if cash.height() > 0 {
                    parts.push(read_frame(&ctx, &cash, Part::Cash)?);
                }
            }
            BookFrames::concat(parts).map_err(|e| refuse(book, e))
        })
    }
}

/// The `instrument_key` column of `symbols` (`recon_model::instrument_key`): a book repeats
/// its symbols across accounts (a million lots hold a few hundred thousand instruments), so
/// each distinct one is keyed once, on every core. The broker side of `position_recon` keys
/// its positions with the same function (`instrument_keys_knowing`).
pub fn instrument_keys<'a>(
    symbols: impl IntoIterator<Item = Option<&'a str>>,
    as_of: NaiveDate,
) -> PolarsResult<StringChunked> {
    instrument_keys_knowing(symbols, as_of, |_| None)
}

/// `instrument_keys`, taking the key of a spelling from `known` where it has one (keys
/// already computed for the same spelling as of the same day: `position_recon` passes the
/// chunk's book, so a symbol both sides spell alike is keyed once in a run, not twice).
pub fn instrument_keys_knowing<'a, 'k>(
    symbols: impl IntoIterator<Item = Option<&'a str>>,
    as_of: NaiveDate,
    known: impl Fn(&str) -> Option<&'k str> + Sync,
) -> PolarsResult<StringChunked> {
    Ok(SpelledSymbols::number(symbols).columns(as_of, known)?.1)
}

/// A column of symbols and its `instrument_key` column, both gathered from the distinct
/// spellings: each distinct symbol and key is written once, and the rows share that text
/// (a row's string pushed one by one was the largest cost of building a book's frames).
pub fn symbols_and_keys<'a>(
    symbols: impl IntoIterator<Item = Option<&'a str>>,
    as_of: NaiveDate,
) -> PolarsResult<(StringChunked, StringChunked)> {
    SpelledSymbols::number(symbols).columns(as_of, |_| None)
}

/// Rows' symbols numbered by their distinct spellings, in the order first met.
struct SpelledSymbols<'a> {
    distinct: Vec<&'a str>,
    numbers: IdxCa,
}

impl<'a> SpelledSymbols<'a> {
    fn number(symbols: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        // Each row's symbol numbered in one pass (a row is looked up in the map once: at a
        // million rows the map is larger than the cache, and a second lookup per row cost
        // as much as the first). Sized for every row distinct: growing it rehashed every
        // spelling met so far, several times over.
        let symbols = symbols.into_iter();
        let rows = symbols.size_hint().0;
        let mut seen: PlHashMap<&str, IdxSize> = PlHashMap::with_capacity(rows);
        let mut distinct: Vec<&str> = Vec::with_capacity(rows);
        let numbers = IdxCa::from_iter_options(
            "numbers".into(),
            symbols.map(|s| {
                s.map(|s| {
                    *seen.entry(s).or_insert_with(|| {
                        distinct.push(s);
                        (distinct.len() - 1) as IdxSize
                    })
                })
            }),
        );
        SpelledSymbols { distinct, numbers }
    }

    /// The rows' symbols and keys (`known` first, else `instrument_key` as of `as_of`).
    fn columns<'k>(
        &self,
        as_of: NaiveDate,
        known: impl Fn(&str) -> Option<&'k str> + Sync,
    ) -> PolarsResult<(StringChunked, StringChunked)> {
        let keyed: Vec<std::borrow::Cow<'k, str>> = self
            .distinct
            .par_iter()
            .map(|s| match known(s) {
                Some(key) => key.into(),
                None => instrument_key(s, as_of).into(),
            })
            .collect();
        let keys = StringChunked::from_iter_values(
            "instrument_key".into(),
            keyed.iter().map(|k| k.as_ref()),
        );
        let symbols =
            StringChunked::from_iter_values("symbol".into(), self.distinct.iter().copied());
        Ok((symbols.take(&self.numbers)?, keys.take(&self.numbers)?))
    }
}

/// The book frames: `book_positions`, `book_cash`, `book_quarantine`. Empty (with their
/// columns) when no book is configured, so packs naming them still compile.
#[derive(Debug, Clone)]
pub struct BookFrames {
    pub positions: DataFrame,
    pub cash: DataFrame,
    pub quarantine: DataFrame,
}

impl BookFrames {
    pub fn empty() -> PolarsResult<BookFrames> {
        BookFrames::build(&BookRows::default())
    }

    /// Frames from rows written out one by one (rule cases, tests); a book read from files
    /// or a query is built column by column instead (`read_book`).
    pub fn build(rows: &BookRows) -> PolarsResult<BookFrames> {
        let p = &rows.positions;
        let positions = DataFrame::new(
            p.len(),
            vec![
                text("book", p.iter().map(|r| Some(r.book.as_str()))),
                text("broker", p.iter().map(|r| Some(r.broker.as_str()))),
                text("account_id", p.iter().map(|r| Some(r.account_id.as_str()))),
                text(
                    "instrument_key",
                    p.iter().map(|r| Some(r.instrument_key.as_str())),
                ),
                text("symbol", p.iter().map(|r| Some(r.symbol.as_str()))),
                money("quantity", p.iter().map(|r| Some(r.quantity))),
                money("price", p.iter().map(|r| r.price)),
                money("market_value", p.iter().map(|r| r.market_value)),
                money("cost_basis", p.iter().map(|r| r.cost_basis)),
                text("currency", p.iter().map(|r| Some(r.currency.as_str()))),
                date("as_of", p.iter().map(|r| Some(r.as_of))),
                text("cusip", p.iter().map(|r| r.cusip.as_deref())),
            ],
        )?;
        let c = &rows.cash;
        let cash = DataFrame::new(
            c.len(),
            vec![
                text("book", c.iter().map(|r| Some(r.book.as_str()))),
                text("broker", c.iter().map(|r| Some(r.broker.as_str()))),
                text("account_id", c.iter().map(|r| Some(r.account_id.as_str()))),
                text("currency", c.iter().map(|r| Some(r.currency.as_str()))),
                money("amount", c.iter().map(|r| Some(r.amount))),
                date("as_of", c.iter().map(|r| Some(r.as_of))),
            ],
        )?;
        Ok(BookFrames {
            positions,
            cash,
            quarantine: quarantine_frame(&rows.problems)?,
        })
    }

    /// Several books' (or files') frames as one, in the order given.
    pub fn concat(parts: impl IntoIterator<Item = BookFrames>) -> PolarsResult<BookFrames> {
        let mut all = BookFrames::empty()?;
        for part in parts {
            all.positions.vstack_mut_owned(part.positions)?;
            all.cash.vstack_mut_owned(part.cash)?;
            all.quarantine.vstack_mut_owned(part.quarantine)?;
        }
        // One chunk per column: a chunk of accounts then takes its rows by view (a string
        // gathered from several chunks is copied byte by byte, from one chunk it shares the
        // chunk's text), and joining the read's blocks copies only the views, not the text.
        all.positions.rechunk_mut_par();
        all.cash.rechunk_mut_par();
        Ok(all)
    }
}

/// `book_quarantine`: the rows that could not be read, where and why.
fn quarantine_frame(q: &[BookProblem]) -> PolarsResult<DataFrame> {
    DataFrame::new(
        q.len(),
        vec![
            text("book", q.iter().map(|r| Some(r.book.as_str()))),
            text("broker", q.iter().map(|r| r.broker.as_deref())),
            text("account_id", q.iter().map(|r| r.account_id.as_deref())),
            text("source", q.iter().map(|r| Some(r.source.as_str()))),
            Int64Chunked::from_iter_options("line".into(), q.iter().map(|r| Some(r.line as i64)))
                .into_column(),
            text("column", q.iter().map(|r| r.column.as_deref())),
            text("reason", q.iter().map(|r| Some(r.reason.as_str()))),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

    /// A book folder holding `positions-1.csv` and `cash.csv` with these contents.
    fn book_files(positions: &str, cash: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("positions-1.csv"), positions).unwrap();
        std::fs::write(dir.path().join("cash.csv"), cash).unwrap();
        dir
    }

    const NO_CASH: &str = "broker,account,currency,amount\n";

    fn spec(dir: &Path) -> BookSpec {
        BookSpec {
            name: "oms".into(),
            positions: dir.join("positions-*.csv").display().to_string(),
            cash: Some(dir.join("cash.csv").display().to_string()),
            ..BookSpec::default()
        }
    }

    #[test]
    fn csv_rows_become_exact_rows_and_bad_rows_are_quarantined_with_line_and_column() {
        let dir = book_files(
            "broker,account,symbol,quantity,price,as_of\n\
             tradezero,TZ1,BRK/B,10,0.1,2026-11-20\n\
             tradezero,TZ1,SPY   261218C00700000,-2,1.25,\n\
             robinhood,RH1,AAPL,1,,\n\
             tradezero,TZ1,AAPL,lots,,\n",
            "broker,account,currency,amount\ntradezero,TZ1,usd,\"1,000.10\"\n",
        );
        let frames = read_book(&spec(dir.path()), as_of()).unwrap();
        let positions = &frames.positions;
        assert_eq!(positions.height(), 2);
        assert_eq!(text_at(positions, "instrument_key", 0), "EQ:BRK.B");
        assert_eq!(
            money_at(positions, "price", 0),
            Some(dec!(0.1)),
            "exact, never a float"
        );
        assert_eq!(
            text_at(positions, "instrument_key", 1),
            "OPT:SPY:2026-12-18:C:700"
        );
        assert_eq!(money_at(positions, "quantity", 1), Some(dec!(-2)));
        assert_eq!(text_at(positions, "currency", 1), "USD");
        let q = &frames.quarantine;
        let problems: Vec<(i64, String)> = (0..q.height())
            .map(|i| {
                let line = q.column("line").unwrap().i64().unwrap().get(i).unwrap();
                (line, text_at(q, "column", i))
            })
            .collect();
        assert_eq!(
            problems,
            [(4, "broker".to_string()), (5, "quantity".to_string())]
        );
        assert_eq!(text_at(q, "broker", 0), "robinhood", "the row as written");
        assert_eq!(money_at(&frames.cash, "amount", 0), Some(dec!(1000.10)));
        assert_eq!(text_at(&frames.cash, "currency", 0), "USD");
        assert_eq!(text_at(&frames.cash, "book", 0), "oms");
    }

    #[test]
    fn a_mapping_for_a_column_recon_does_not_read_is_refused_by_name() {
        let dir = book_files(
            "broker,account,symbol,quantity,ISIN\ntradezero,TZ1,AAPL,1,US0378331005\n",
            NO_CASH,
        );
        let mut spec = spec(dir.path());
        spec.columns.insert("isn".into(), "ISIN".into());
        let e = refusal(&spec);
        assert!(
            e.contains("book `oms`") && e.contains("`isn`") && e.contains("cusip, isin"),
            "{e}"
        );
        spec.columns.clear();
        spec.columns.insert("isin".into(), "ISIN".into());
        let frames = read_book(&spec, as_of()).unwrap();
        assert_eq!(text_at(&frames.positions, "cusip", 0), "037833100");
        spec.cash_columns.insert("amt".into(), "amount".into());
        let e = refusal(&spec);
        assert!(e.contains("`amt`") && e.contains("cash.csv"), "{e}");
    }

    #[test]
    fn cusips_and_isins_are_verified_and_a_bad_one_quarantines_its_row() {
        let dir = book_files(
            "broker,account,symbol,quantity,cusip,isin\n\
             tradezero,TZ1,AAPL,1,037833100,\n\
             tradezero,TZ1,MSFT,1,,us5949181045\n\
             tradezero,TZ1,VOD,1,,GB00BH4HKS39\n\
             tradezero,TZ1,AAPL,1,037833109,\n\
             tradezero,TZ1,AAPL,1,037833100,US5949181045\n\
             tradezero,TZ1,AAPL,1,037833100,US0378331005\n",
            NO_CASH,
        );
        let frames = read_book(&spec(dir.path()), as_of()).unwrap();
        let p = &frames.positions;
        let cusip = p.column("cusip").unwrap().str().unwrap();
        let cusips: Vec<&str> = (0..p.height())
            .map(|i| cusip.get(i).unwrap_or(""))
            .collect();
        // A foreign ISIN carries no CUSIP: the row is read, matched by its symbol.
        assert_eq!(cusips, ["037833100", "594918104", "", "037833100"]);
        let problems = quarantined(&frames.quarantine, "column");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!((problems[0].0, problems[0].1.as_str()), (5, "cusip"));
        assert!(
            problems[0].2.contains("`037833109` is not a CUSIP"),
            "{problems:?}"
        );
        assert_eq!((problems[1].0, problems[1].1.as_str()), (6, "isin"));
        assert!(
            problems[1].2.contains("name different securities"),
            "{problems:?}"
        );
    }

    /// A book long enough that polars' CSV reader hands it back in many chunks: every row
    /// is read in file order, and a bad row in a later block is quarantined on its own line
    /// (blocks follow the chunks, and a block's cells are found from its first row).
    #[test]
    fn a_book_read_in_many_chunks_keeps_its_rows_in_order_and_its_lines_exact() {
        const ROWS: usize = 150_000;
        let bad = [3, 70_001, ROWS - 2];
        let mut text = String::from("broker,account,symbol,quantity\n");
        for i in 0..ROWS {
            let quantity = if bad.contains(&i) {
                "lots".to_string()
            } else {
                i.to_string()
            };
            text.push_str(&format!("tradezero,TZ{},S{i},{quantity}\n", i / 100));
        }
        let dir = book_files(&text, NO_CASH);
        // Checked when the test is compiled: the file must be read in several blocks for
        // this test to mean anything.
        const _: () = assert!(ROWS > 2 * ROWS_PER_BLOCK);
        let frames = read_book(&spec(dir.path()), as_of()).unwrap();
        let p = &frames.positions;
        assert_eq!(p.height(), ROWS - bad.len());
        let symbols = p.column("symbol").unwrap().str().unwrap();
        let quantities = p.column("quantity").unwrap().decimal().unwrap().physical();
        let good = (0..ROWS).filter(|i| !bad.contains(i));
        for ((i, symbol), quantity) in good.zip(symbols.iter()).zip(quantities.iter()) {
            assert_eq!(symbol, Some(format!("S{i}").as_str()));
            assert_eq!(quantity, Some(i as i128 * 100_000_000));
        }
        let q = &frames.quarantine;
        let lines: Vec<i64> = q
            .column("line")
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        // The header is line 1: row i is on line i + 2.
        assert_eq!(lines, bad.map(|i| i as i64 + 2));
        let accounts: Vec<String> = (0..q.height())
            .map(|i| text_at(q, "account_id", i))
            .collect();
        assert_eq!(accounts, bad.map(|i| format!("TZ{}", i / 100)));
    }

    /// Rows the CSV reader cannot give as cells (a field that is not UTF-8, a row wider than
    /// the header) are quarantined on their own lines, with the account as written; a row
    /// narrower than the header reads its missing last cells as empty (quarantined only
    /// where one is required); a quoted field over two lines moves the lines after it; the
    /// rows around them are read.
    #[test]
    fn ragged_and_non_utf8_rows_are_quarantined_on_their_real_lines() {
        let mut text = b"broker,account,symbol,quantity,description\n".to_vec();
        text.extend_from_slice(b"tradezero,TZ1,AAPL,1,\"two\nlines\"\n");
        text.extend_from_slice(b"tradezero,TZ2,AAPL,2\n");
        text.extend_from_slice(b"tradezero,TZ6,AAPL\n");
        text.extend_from_slice(b"tradezero,TZ3,AAPL,3,x,extra\n");
        text.extend_from_slice(b"tradezero,TZ4,AAPL,4,caf\xe9\n");
        text.extend_from_slice(b"tradezero,TZ5,MSFT,5,\n");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("positions-1.csv"), text).unwrap();
        std::fs::write(dir.path().join("cash.csv"), NO_CASH).unwrap();
        let frames = read_book(&spec(dir.path()), as_of()).unwrap();
        let p = &frames.positions;
        let accounts: Vec<String> = (0..p.height())
            .map(|i| text_at(p, "account_id", i))
            .collect();
        assert_eq!(accounts, ["TZ1", "TZ2", "TZ5"]);
        let rows = quarantined(&frames.quarantine, "account_id");
        assert_eq!(
            rows,
            [
                (5, "TZ6".into(), "no quantity".into()),
                (6, "TZ3".into(), "6 fields where the header has 5".into()),
                (7, "TZ4".into(), "field 5 is not UTF-8 text".into()),
            ]
        );
        // The narrow row without a quantity is quarantined by the column it lacks.
        assert_eq!(text_at(&frames.quarantine, "column", 0), "quantity");
    }

    #[test]
    fn a_column_named_twice_is_refused_by_name() {
        let dir = book_files(
            "broker,account,symbol,quantity,quantity\ntradezero,TZ1,AAPL,1,2\n",
            NO_CASH,
        );
        let e = refusal(&spec(dir.path()));
        assert!(e.contains("two columns named `quantity`"), "{e}");
    }

    /// Why `spec`'s book is refused.
    fn refusal(spec: &BookSpec) -> String {
        read_book(spec, as_of()).unwrap_err().to_string()
    }

    /// Each quarantined row's line, `column` and reason.
    fn quarantined(q: &DataFrame, column: &str) -> Vec<(i64, String, String)> {
        (0..q.height())
            .map(|i| {
                let line = q.column("line").unwrap().i64().unwrap().get(i).unwrap();
                (line, text_at(q, column, i), text_at(q, "reason", i))
            })
            .collect()
    }

    fn text_at(df: &DataFrame, column: &str, i: usize) -> String {
        df.column(column)
            .unwrap()
            .str()
            .unwrap()
            .get(i)
            .unwrap()
            .to_string()
    }

    fn money_at(df: &DataFrame, column: &str, i: usize) -> Option<rust_decimal::Decimal> {
        match df.column(column).unwrap().get(i).unwrap() {
            AnyValue::Decimal(units, _, scale) => exact::from_units(units, scale),
            _ => None,
        }
    }

    #[test]
    fn a_missing_column_a_glob_with_no_file_and_another_day_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("positions-1.csv"),
            "broker,acct,symbol,quantity\ntradezero,TZ1,AAPL,1\n",
        )
        .unwrap();
        let mut s = spec(dir.path());
        s.cash = None;
        let e = refusal(&s);
        assert!(
            e.contains("book `oms`") && e.contains("`account`") && e.contains("acct"),
            "{e}"
        );
        s.columns.insert("account".into(), "acct".into());
        assert_eq!(read_book(&s, as_of()).unwrap().positions.height(), 1);

        std::fs::write(
            dir.path().join("positions-1.csv"),
            "broker,acct,symbol,quantity,as_of\ntradezero,TZ1,AAPL,1,2026-11-19\n",
        )
        .unwrap();
        let e = refusal(&s);
        assert!(e.contains("2026-11-19") && e.contains("line 2"), "{e}");

        s.positions = dir.path().join("nothing-*.csv").display().to_string();
        let e = refusal(&s);
        assert!(e.contains("matches no file"), "{e}");
    }

    #[test]
    fn parquet_books_read_the_same_and_aliases_name_the_broker_account() {
        let dir = tempfile::tempdir().unwrap();
        let mut df = df!(
            "broker" => ["etrade"],
            "account" => ["84010429"],
            "symbol" => ["SPY---261218C00700000"],
            "quantity" => ["-1"],
        )
        .unwrap();
        let path = dir.path().join("positions-1.parquet");
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let mut s = spec(dir.path());
        s.positions = path.display().to_string();
        s.cash = None;
        s.accounts
            .insert("84010429".into(), "etrade:dBZOKt9xDrtRSAOl4MSiiA".into());
        let frames = read_book(&s, as_of()).unwrap();
        let positions = &frames.positions;
        assert_eq!(
            text_at(positions, "account_id", 0),
            "dBZOKt9xDrtRSAOl4MSiiA"
        );
        assert_eq!(text_at(positions, "broker", 0), "etrade");
        assert_eq!(
            text_at(positions, "instrument_key", 0),
            "OPT:SPY:2026-12-18:C:700"
        );
    }
}
