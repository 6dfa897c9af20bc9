//! The firm's own book of record (DESIGN.md "Book of record"), read from CSV or Parquet
//! files into the canonical `book_positions`, `book_cash` and `book_quarantine` frames.
//!
//! Every cell is read as text (a CSV column is never inferred as a float, a Parquet
//! number is cast to its exact text) and parsed with the same exact-decimal reader as
//! broker bodies. A row that cannot be read is quarantined with its file, line and column;
//! a missing required column, a glob that matches nothing or a book dated another day than
//! the run are errors naming the book, because then nothing of it can be trusted.

use crate::schema::{date, money, text};
use chrono::NaiveDate;
use polars::prelude::*;
use recon_model::instrument_key::instrument_key;
use recon_model::{BookCashRow, BookPositionRow, BookProblem, Broker};
use recon_parse::exact;
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
const POSITION_OPTIONAL: [&str; 6] = [
    "price",
    "market_value",
    "cost_basis",
    "currency",
    "as_of",
    "description",
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

/// A file as text columns.
fn read_text_frame(book: &str, path: &Path) -> Result<DataFrame, BookError> {
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let df = if is_parquet {
        let file = std::fs::File::open(path)
            .map_err(|e| refused(book, format!("{}: {e}", path.display())))?;
        ParquetReader::new(file)
            .finish()
            .map_err(|e| refused(book, format!("{}: {e}", path.display())))?
    } else {
        CsvReadOptions::default()
            .with_has_header(true)
            // Every column as text: a CSV number must never become a float.
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .map_err(|e| refused(book, format!("{}: {e}", path.display())))?
    };
    let columns = df
        .columns()
        .iter()
        .map(|c| c.cast(&DataType::String))
        .collect::<PolarsResult<Vec<_>>>()
        .map_err(|e| refused(book, format!("{}: {e}", path.display())))?;
    let mut df = DataFrame::new(df.height(), columns).map_err(|e| refused(book, e.to_string()))?;
    // One chunk per column: the rows are then read by index, which walks the chunks.
    df.rechunk_mut();
    Ok(df)
}

/// The source column of each canonical one present, after the mapping; a required one
/// missing is an error naming it and the file.
fn resolve(
    book: &str,
    path: &Path,
    df: &DataFrame,
    mapping: &BTreeMap<String, String>,
    required: &[&'static str],
    optional: &[&'static str],
) -> Result<BTreeMap<&'static str, StringChunked>, BookError> {
    let mut out = BTreeMap::new();
    let all: Vec<(&'static str, bool)> = required
        .iter()
        .map(|c| (*c, true))
        .chain(optional.iter().map(|c| (*c, false)))
        .collect();
    for (canonical, needed) in all {
        let source = mapping.get(canonical).map_or(canonical, String::as_str);
        match df.column(source) {
            Ok(c) => {
                out.insert(
                    canonical,
                    c.str().map_err(|e| refused(book, e.to_string()))?.clone(),
                );
            }
            Err(_) if needed => {
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
                        df.get_column_names()
                            .iter()
                            .map(|n| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            Err(_) => {}
        }
    }
    Ok(out)
}

/// Reads every file of a book. `as_of` is the run's business date: a row dated otherwise
/// refuses the whole book.
pub fn read_book(spec: &BookSpec, as_of: NaiveDate) -> Result<BookRows, BookError> {
    if let Some(pg) = &spec.postgres {
        return postgres::read(spec, pg, as_of);
    }
    let mut rows = BookRows::default();
    for path in files(&spec.name, &spec.positions)? {
        read_file(spec, &path, as_of, &mut rows, Part::Positions)?;
    }
    if let Some(cash) = &spec.cash {
        for path in files(&spec.name, cash)? {
            read_file(spec, &path, as_of, &mut rows, Part::Cash)?;
        }
    }
    Ok(rows)
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

/// Reads one row's shared fields: broker and account (through the alias map) and the
/// row's own date. `Err` is the problem to quarantine.
struct RowContext<'a> {
    spec: &'a BookSpec,
    path: &'a Path,
    as_of: NaiveDate,
    /// Instrument keys by symbol: a book repeats its symbols across accounts.
    keys: std::cell::RefCell<std::collections::HashMap<String, String>>,
}

impl RowContext<'_> {
    fn key(&self, symbol: &str) -> String {
        if let Some(k) = self.keys.borrow().get(symbol) {
            return k.clone();
        }
        let k = instrument_key(symbol, self.as_of);
        self.keys.borrow_mut().insert(symbol.to_string(), k.clone());
        k
    }
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

    fn place(
        &self,
        i: usize,
        broker: Option<&str>,
        account: Option<&str>,
    ) -> Result<(Broker, String), Box<BookProblem>> {
        let account = account
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| self.problem(i, Some("account"), "no account".into()))?;
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
            return Ok((broker, id.to_string()));
        }
        let broker = broker
            .map(str::trim)
            .ok_or_else(|| self.problem(i, Some("broker"), "no broker".into()))?;
        let broker = broker
            .to_ascii_lowercase()
            .parse::<Broker>()
            .map_err(|e| self.problem(i, Some("broker"), e.to_string()))?;
        Ok((broker, account.to_string()))
    }

    fn date_ok(&self, i: usize, value: Option<&str>) -> Result<(), BookError> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
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

    /// An exact number from a cell; `Ok(None)` for an empty one.
    fn number(
        &self,
        i: usize,
        column: &str,
        value: Option<&str>,
    ) -> Result<Option<rust_decimal::Decimal>, Box<BookProblem>> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match exact::parse_decimal(&v.replace(',', "")) {
            Some(d) if exact::out_of_range(&d) => Err(self.problem(
                i,
                Some(column),
                format!("`{v}` is out of range (|x| ≥ 10^{})", exact::LIMIT_DIGITS),
            )),
            Some(d) => Ok(Some(exact::to_frame_scale(d).0)),
            None => Err(self.problem(i, Some(column), format!("`{v}` is not a number"))),
        }
    }
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
    rows: &mut BookRows,
    part: Part,
) -> Result<(), BookError> {
    let df = read_text_frame(&spec.name, path)?;
    read_frame(spec, path, &df, as_of, rows, part)
}

/// Every row of a text frame (a file's or a query's) into `rows`, or a problem naming its
/// line and column.
fn read_frame(
    spec: &BookSpec,
    path: &Path,
    df: &DataFrame,
    as_of: NaiveDate,
    rows: &mut BookRows,
    part: Part,
) -> Result<(), BookError> {
    let (mapping, required, optional): (_, &[&'static str], &[&'static str]) = match part {
        Part::Positions => (&spec.columns, &POSITION_REQUIRED, &POSITION_OPTIONAL),
        Part::Cash => (&spec.cash_columns, &CASH_REQUIRED, &CASH_OPTIONAL),
    };
    let cols = resolve(&spec.name, path, df, mapping, required, optional)?;
    let ctx = RowContext {
        spec,
        path,
        as_of,
        keys: Default::default(),
    };
    for i in 0..df.height() {
        let cell = |name: &str| cols.get(name).and_then(|c| c.get(i));
        ctx.date_ok(i, cell("as_of"))?;
        let read = match part {
            Part::Positions => position_row(&ctx, i, &cell).map(|r| rows.positions.push(r)),
            Part::Cash => cash_row(&ctx, i, &cell).map(|r| rows.cash.push(r)),
        };
        if let Err(p) = read {
            rows.problems.push(with_place(*p, &cell));
        }
    }
    Ok(())
}

/// A problem row with the row's broker and account as written, so its finding names where
/// it belongs.
fn with_place<'a>(mut p: BookProblem, cell: &dyn Fn(&str) -> Option<&'a str>) -> BookProblem {
    p.broker = cell("broker")
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty());
    p.account_id = cell("account")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    p
}

fn position_row<'a>(
    ctx: &RowContext,
    i: usize,
    cell: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<BookPositionRow, Box<BookProblem>> {
    let (broker, account_id) = ctx.place(i, cell("broker"), cell("account"))?;
    let symbol = cell("symbol")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ctx.problem(i, Some("symbol"), "no symbol".into()))?;
    let quantity = ctx
        .number(i, "quantity", cell("quantity"))?
        .ok_or_else(|| ctx.problem(i, Some("quantity"), "no quantity".into()))?;
    Ok(BookPositionRow {
        book: ctx.spec.name.clone(),
        broker,
        account_id,
        instrument_key: ctx.key(symbol),
        symbol: symbol.to_string(),
        quantity,
        price: ctx.number(i, "price", cell("price"))?,
        market_value: ctx.number(i, "market_value", cell("market_value"))?,
        cost_basis: ctx.number(i, "cost_basis", cell("cost_basis"))?,
        currency: cell("currency")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or("USD")
            .to_ascii_uppercase(),
        as_of: ctx.as_of,
    })
}

fn cash_row<'a>(
    ctx: &RowContext,
    i: usize,
    cell: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<BookCashRow, Box<BookProblem>> {
    let (broker, account_id) = ctx.place(i, cell("broker"), cell("account"))?;
    let currency = cell("currency")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ctx.problem(i, Some("currency"), "no currency".into()))?;
    let amount = ctx
        .number(i, "amount", cell("amount"))?
        .ok_or_else(|| ctx.problem(i, Some("amount"), "no amount".into()))?;
    Ok(BookCashRow {
        book: ctx.spec.name.clone(),
        broker,
        account_id,
        currency: currency.to_ascii_uppercase(),
        amount,
        as_of: ctx.as_of,
    })
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
    ) -> Result<BookRows, BookError> {
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
            let mut rows = BookRows::default();
            let positions = frame(&client, book, &pg.positions_query, as_of).await?;
            if positions.height() > 0 {
                read_frame(
                    spec,
                    Path::new(&source),
                    &positions,
                    as_of,
                    &mut rows,
                    Part::Positions,
                )?;
            }
            if let Some(query) = &pg.cash_query {
                let cash = frame(&client, book, query, as_of).await?;
                if cash.height() > 0 {
                    read_frame(
                        spec,
                        Path::new(&source),
                        &cash,
                        as_of,
                        &mut rows,
                        Part::Cash,
                    )?;
                }
            }
            Ok(rows)
        })
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
        let q = &rows.problems;
        let quarantine = DataFrame::new(
            q.len(),
            vec![
                text("book", q.iter().map(|r| Some(r.book.as_str()))),
                text("broker", q.iter().map(|r| r.broker.as_deref())),
                text("account_id", q.iter().map(|r| r.account_id.as_deref())),
                text("source", q.iter().map(|r| Some(r.source.as_str()))),
                Int64Chunked::from_iter_options(
                    "line".into(),
                    q.iter().map(|r| Some(r.line as i64)),
                )
                .into_column(),
                text("column", q.iter().map(|r| r.column.as_deref())),
                text("reason", q.iter().map(|r| Some(r.reason.as_str()))),
            ],
        )?;
        Ok(BookFrames {
            positions,
            cash,
            quarantine,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

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
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("positions-1.csv"),
            "broker,account,symbol,quantity,price,as_of\n\
             tradezero,TZ1,BRK/B,10,0.1,2026-11-20\n\
             tradezero,TZ1,SPY   261218C00700000,-2,1.25,\n\
             robinhood,RH1,AAPL,1,,\n\
             tradezero,TZ1,AAPL,lots,,\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("cash.csv"),
            "broker,account,currency,amount\ntradezero,TZ1,usd,\"1,000.10\"\n",
        )
        .unwrap();
        let rows = read_book(&spec(dir.path()), as_of()).unwrap();
        assert_eq!(rows.positions.len(), 2);
        assert_eq!(rows.positions[0].instrument_key, "EQ:BRK.B");
        assert_eq!(
            rows.positions[0].price,
            Some(dec!(0.1)),
            "exact, never a float"
        );
        assert_eq!(rows.positions[1].instrument_key, "OPT:SPY:2026-12-18:C:700");
        assert_eq!(rows.positions[1].quantity, dec!(-2));
        let problems: Vec<(u64, Option<&str>)> = rows
            .problems
            .iter()
            .map(|p| (p.line, p.column.as_deref()))
            .collect();
        assert_eq!(problems, [(4, Some("broker")), (5, Some("quantity"))]);
        assert_eq!(rows.cash[0].amount, dec!(1000.10));
        assert_eq!(rows.cash[0].currency, "USD");
        let frames = BookFrames::build(&rows).unwrap();
        assert_eq!(frames.positions.height(), 2);
        assert_eq!(frames.quarantine.height(), 2);
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
        let e = read_book(&s, as_of()).unwrap_err().to_string();
        assert!(
            e.contains("book `oms`") && e.contains("`account`") && e.contains("acct"),
            "{e}"
        );
        s.columns.insert("account".into(), "acct".into());
        assert_eq!(read_book(&s, as_of()).unwrap().positions.len(), 1);

        std::fs::write(
            dir.path().join("positions-1.csv"),
            "broker,acct,symbol,quantity,as_of\ntradezero,TZ1,AAPL,1,2026-11-19\n",
        )
        .unwrap();
        let e = read_book(&s, as_of()).unwrap_err().to_string();
        assert!(e.contains("2026-11-19") && e.contains("line 2"), "{e}");

        s.positions = dir.path().join("nothing-*.csv").display().to_string();
        let e = read_book(&s, as_of()).unwrap_err().to_string();
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
        let rows = read_book(&s, as_of()).unwrap();
        assert_eq!(rows.positions[0].account_id, "dBZOKt9xDrtRSAOl4MSiiA");
        assert_eq!(rows.positions[0].instrument_key, "OPT:SPY:2026-12-18:C:700");
    }
}
