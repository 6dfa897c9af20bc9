//! `recon sim`: the simulator as a process of its own, for trying connectors by hand and for
//! load tests. It announces itself with one JSON line on stdout (DESIGN.md "Simulator").

use crate::pipeline::RunError;
use chrono::NaiveDate;
use recon_model::files::write_atomic;
use recon_sim::generate::{GenSpec, generate};
use recon_sim::{Faults, SimBook, SimCredentials, SimOptions, load_book};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub struct SimCommand {
    pub book: Option<PathBuf>,
    pub seed: Option<u64>,
    pub accounts: usize,
    pub positions_per_account: usize,
    pub break_rate: f64,
    pub as_of: Option<NaiveDate>,
    pub expected: Option<PathBuf>,
    /// Write the generated book's book of record here (positions.csv, positions.parquet,
    /// cash.csv and expected.json with the `books` findings it must produce).
    pub book_of_record: Option<PathBuf>,
    pub max_seconds: Option<u64>,
    pub faults: String,
    /// Brokers announced but not listening (connections refused).
    pub unreachable: Vec<String>,
}

fn book(cmd: &SimCommand) -> Result<SimBook, RunError> {
    if let Some(path) = &cmd.book {
        return load_book(path).map_err(|e| RunError::Usage(e.to_string()));
    }
    let Some(seed) = cmd.seed else {
        return Ok(SimBook::demo());
    };
    if !(0.0..=0.5).contains(&cmd.break_rate) {
        return Err(RunError::Usage(format!(
            "--break-rate {} is outside 0 to 0.5 (an account gets a break or a near miss, never both)",
            cmd.break_rate
        )));
    }
    let as_of = cmd.as_of.unwrap_or(SimBook::demo().as_of);
    let spec = GenSpec {
        break_rate: cmd.break_rate,
        ..GenSpec::new(seed, cmd.accounts, cmd.positions_per_account, as_of)
    };
    let (book, expected) = generate(&spec);
    if let Some(path) = &cmd.expected {
        let body = serde_json::to_vec_pretty(&serde_json::json!({
            "seed": seed,
            "as_of": as_of,
            "findings": expected,
        }))
        .map_err(|e| RunError::Internal(e.to_string()))?;
        write_atomic(path, &body)
            .map_err(|e| RunError::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(dir) = &cmd.book_of_record {
        write_book_of_record(dir, &book, seed, cmd.break_rate)?;
    }
    Ok(book)
}

/// The book of record of a generated book (`recon_sim::record`), as CSV and Parquet, with
/// the `books` findings it must produce.
fn write_book_of_record(
    dir: &std::path::Path,
    book: &SimBook,
    seed: u64,
    break_rate: f64,
) -> Result<(), RunError> {
    use polars::prelude::*;
    let record = recon_sim::record::book_of_record(book, seed, break_rate);
    let fail = |e: &dyn std::fmt::Display| RunError::Usage(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
    let write =
        |name: &str, bytes: &[u8]| write_atomic(&dir.join(name), bytes).map_err(|e| fail(&e));
    write("positions.csv", record.positions_csv().as_bytes())?;
    write("cash.csv", record.cash_csv().as_bytes())?;
    let p = &record.positions;
    let show = |d: Option<rust_decimal::Decimal>| d.map(|d| d.to_string());
    let mut df = DataFrame::new(
        p.len(),
        vec![
            Column::new(
                "broker".into(),
                p.iter().map(|l| l.broker.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "account".into(),
                p.iter().map(|l| l.account.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "symbol".into(),
                p.iter().map(|l| l.symbol.clone()).collect::<Vec<_>>(),
            ),
            Column::new(
                "quantity".into(),
                p.iter().map(|l| l.quantity.to_string()).collect::<Vec<_>>(),
            ),
            Column::new(
                "price".into(),
                p.iter().map(|l| show(l.price)).collect::<Vec<_>>(),
            ),
            Column::new(
                "market_value".into(),
                p.iter().map(|l| show(l.market_value)).collect::<Vec<_>>(),
            ),
            Column::new(
                "cusip".into(),
                p.iter().map(|l| l.cusip.clone()).collect::<Vec<_>>(),
            ),
        ],
    )
    .map_err(|e| fail(&e))?;
    let mut parquet = Vec::new();
    ParquetWriter::new(&mut parquet)
        .finish(&mut df)
        .map_err(|e| fail(&e))?;
    write("positions.parquet", &parquet)?;
    let expected = serde_json::to_vec_pretty(&serde_json::json!({
        "seed": seed,
        "as_of": book.as_of,
        "findings": record.expected,
    }))
    .map_err(|e| fail(&e))?;
    write("expected.json", &expected)
}

pub fn serve(cmd: &SimCommand) -> Result<(), RunError> {
    let faults = Faults::profile(&cmd.faults).ok_or_else(|| {
        RunError::Usage(format!(
            "--faults `{}` is not a profile (none, flaky, slow, invalid, loop, expiry)",
            cmd.faults
        ))
    })?;
    let mut unreachable = Vec::new();
    for name in &cmd.unreachable {
        unreachable.push(name.parse::<recon_model::Broker>().map_err(|_| {
            RunError::Usage(format!(
                "--unreachable `{name}` is not a broker (tastytrade, tradezero, clearstreet, etrade, architect)"
            ))
        })?);
    }
    let book = book(cmd)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let options = SimOptions {
            faults,
            unreachable,
            ..SimOptions::default()
        };
        let sim = recon_sim::start(book, SimCredentials::random(), options)
            .await
            .map_err(|e| RunError::Internal(format!("cannot listen on 127.0.0.1: {e}")))?;
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "{}", sim.announcement());
        let _ = stdout.flush();
        match cmd.max_seconds {
            Some(s) => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(s)) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        sim.shutdown().await;
        Ok(())
    })
}
