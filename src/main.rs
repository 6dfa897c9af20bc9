//! The `recon` command line: parses arguments, sets up logging, calls the library, and
//! turns the outcome into an exit code (DESIGN.md "Exit codes").

// Normalize makes millions of small allocations (a row per position); glibc malloc spent
// ~15% of a 10,000-account check in malloc and free (perf), mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chrono::NaiveDate;
use clap::CommandFactory;
use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use recon::config::{self, Config};
use recon::demo::{DemoOptions, run_demo};
use recon::exit::ExitStatus;
use recon::pipeline::{CheckOptions, Chunking, Engine, RunError, RunResult, load_packs};
use recon::run::{Overrides, RunPlan};
use recon::table;
use recon_model::Broker;
use recon_model::manifest::{FetchStatus, Manifest};
use recon_rules::Severity;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// End-of-day reconciliation of broker accounts: fetch every account, normalize, run the
/// rule packs, report the discrepancies.
///
/// Exit codes: 0 clean, 1 findings at or above --fail-on, 2 incomplete (a broker or account
/// could not be fetched or read), 3 usage or configuration error, 4 delivery failed.
#[derive(Parser)]
#[command(name = "recon", version = recon::VERSION, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// The config file (default: $RECON_CONFIG, else ./recon.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where runs are written: <OUT>/<as_of>/<run_id>/ (overrides out_dir; default ./recon-out).
    #[arg(long, global = true, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The business date (YYYY-MM-DD); by default as_of from config, the snapshot's, or today.
    #[arg(long, global = true, value_name = "DATE")]
    as_of: Option<NaiveDate>,
    /// The lowest severity that makes the exit code 1 (overrides fail_on; default error).
    #[arg(long, global = true, value_parser = parse_severity)]
    fail_on: Option<Severity>,
    /// More log output (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors in the log.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log lines for people, or JSON for log collectors.
    #[arg(long, global = true, value_enum, default_value = "human")]
    log_format: LogFormat,
    /// Print the run summary as JSON on stdout instead of a table.
    #[arg(long, global = true)]
    json: bool,
    /// Print wall time per stage and peak memory on stderr (also in summary.json).
    #[arg(long, global = true)]
    timings: bool,
    /// The peak memory a check aims at (e.g. 512MiB, 4GiB): the snapshot is checked in
    /// chunks of accounts sized to it (overrides memory_budget; default 1GiB).
    #[arg(long, global = true, value_name = "SIZE")]
    memory_budget: Option<bytesize::ByteSize>,
    /// Check this many accounts per chunk, whatever the budget (for tests and tuning).
    #[arg(
        long,
        global = true,
        value_name = "N",
        hide = true,
        conflicts_with = "memory_budget"
    )]
    chunk_accounts: Option<usize>,
}

impl Global {
    /// The chunking the command line asks for, if it asks.
    fn chunking(&self) -> Option<Chunking> {
        match (self.chunk_accounts, self.memory_budget) {
            (Some(n), _) => Some(Chunking::Accounts(n.max(1))),
            (None, Some(b)) => Some(Chunking::Budget(b.as_u64())),
            (None, None) => None,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EngineArg {
    Local,
    Spark,
}

#[derive(Subcommand)]
enum Command {
    /// The end-of-day run: fetch every configured broker, check, write the report.
    Run {
        /// Email even recipients who already have this business date's email.
        #[arg(long)]
        resend: bool,
    },
    /// Fetch every configured broker into a snapshot folder, and nothing else.
    Fetch {
        /// Where to write the snapshot (default <OUT>/<as_of>/<run_id>/snapshot).
        #[arg(long, value_name = "DIR")]
        snapshot_out: Option<PathBuf>,
        /// Replace an existing snapshot at --snapshot-out (whole, once the new one is
        /// complete) instead of refusing a non-empty folder.
        #[arg(long)]
        force: bool,
    },
    /// Run the whole pipeline against the built-in simulator and demo book (no config needed).
    Demo,
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Reports: deliver a finished run's email again.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Rule packs: list, validate, explain, test.
    Rules {
        /// Rule pack files or built-in pack ids: core, risk, data-quality, books (default: rules.packs
        /// from config, else the built-in core pack).
        #[arg(long = "pack", value_name = "FILE", global = true)]
        packs: Vec<PathBuf>,
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Serve the broker APIs on 127.0.0.1 from the demo book, a book file, or a generated book.
    ///
    /// Prints one JSON line once listening: each broker's base URL and the credentials it
    /// accepts. Runs until interrupted or --max-seconds.
    Sim(SimArgs),
    /// Write a starting recon.toml for the brokers named, and a .env template (mode 0600)
    /// listing exactly the credential variables they need.
    Init {
        /// The folder to write into (created if missing).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// A broker to configure (repeatable).
        #[arg(long = "broker", value_name = "BROKER", required = true, value_parser = broker_parser())]
        brokers: Vec<Broker>,
        /// Replace recon.toml and .env if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script (e.g. `recon completions bash > /etc/bash_completion.d/recon`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `recon man > /usr/local/share/man/man1/recon.1`.
    Man,
    /// Write a snapshot's canonical frames as Parquet for a cluster (`check --engine spark`):
    /// one dataset per frame, partitioned by broker and account chunk, and a manifest; with
    /// [books] in the config, the book of record's frames too.
    Export {
        /// The snapshot folder (with manifest.json, or broker folders).
        #[arg(long, value_name = "DIR")]
        snapshot: PathBuf,
        /// The folder to write (must not exist; it appears only once complete).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check a snapshot folder offline: normalize, rules, report.
    Check {
        /// The snapshot folder (with manifest.json, or broker folders).
        #[arg(long, value_name = "DIR", required_unless_present = "frames")]
        snapshot: Option<PathBuf>,
        /// Where the rules run: here (local), or on Apache Spark through Spark Connect
        /// (spark: needs --spark-remote and --frames written by `recon export`).
        #[arg(long, value_enum, default_value = "local")]
        engine: EngineArg,
        /// The Spark Connect address, e.g. sc://127.0.0.1:15002 or
        /// sc://host:443/;use_ssl=true. A token is read from RECON_SPARK_TOKEN, never
        /// from the address.
        #[arg(long, value_name = "SC_URL", required_if_eq("engine", "spark"))]
        spark_remote: Option<String>,
        /// The exported frames (a folder, or a URI the cluster reads: s3a://, abfss://,
        /// dbfs:/).
        #[arg(long, value_name = "DIR_OR_URI", required_if_eq("engine", "spark"))]
        frames: Option<String>,
        /// Rule packs (files or built-in ids) instead of the config's rules.packs (default:
        /// the built-in core pack).
        #[arg(long = "pack", value_name = "FILE")]
        packs: Vec<PathBuf>,
        /// A waivers file instead of the config's rules.waivers: findings accepted by an
        /// owner, for a reason, until a date.
        #[arg(long, value_name = "FILE")]
        waivers: Option<PathBuf>,
        /// With [email] enabled in the config: email even recipients who already have this
        /// exact email.
        #[arg(long)]
        resend: bool,
    },
}

#[derive(Args)]
struct SimArgs {
    /// Serve this book file (TOML, as fixtures/demo/book.toml) instead of the demo book.
    #[arg(long, value_name = "FILE", conflicts_with = "seed")]
    book: Option<PathBuf>,
    /// Generate a book from this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Accounts in a generated book.
    #[arg(long, default_value_t = 100, requires = "seed")]
    accounts: usize,
    /// Positions per account in a generated book.
    #[arg(long, default_value_t = 20, requires = "seed")]
    positions_per_account: usize,
    /// Share of generated accounts with a planted break (as many get a near miss).
    #[arg(long, default_value_t = 0.05, requires = "seed")]
    break_rate: f64,
    /// Write the generated book's ground truth (the findings it must produce) here.
    #[arg(long, value_name = "FILE", requires = "seed")]
    expected: Option<PathBuf>,
    /// Write a book of record of the generated book into this folder (positions.csv,
    /// positions.parquet, cash.csv) with a break of every `books` rule planted at
    /// --break-rate, and its expected.json.
    #[arg(long, value_name = "DIR", requires = "seed")]
    book_of_record: Option<PathBuf>,
    /// Stop after this many seconds.
    #[arg(long)]
    max_seconds: Option<u64>,
    /// Fault profile: none, flaky (each path: 503, 429 with Retry-After, a truncated body,
    /// then the answer), slow (250 ms per answer), invalid (a 200 HTML page first), loop
    /// (paged lists repeat a page token) or expiry (access tokens expire after 5 uses).
    #[arg(long, default_value = "none")]
    faults: String,
    /// Announce this broker but let nothing listen on its port, as when its API is down
    /// (repeatable).
    #[arg(long, value_name = "BROKER")]
    unreachable: Vec<String>,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Every rule: pack, id, severity, view, title.
    List,
    /// Load and compile every pack against the canonical schemas; exit 3 if one is refused.
    Validate,
    /// A rule's documentation: what it checks, why, a failing and a passing example.
    Explain { id: String },
    /// Run the packs' test cases (<DIR>/<pack id>/*.toml).
    Test {
        #[arg(long, default_value = "rules/tests", value_name = "DIR")]
        cases: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Deliver the email of RUN_DIR (per [email] in the config) to the recipients that do not
    /// have this business date's email yet: safe to retry from cron.
    Send {
        run_dir: PathBuf,
        /// Send it even to recipients who already have it.
        #[arg(long)]
        resend: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the config, and print it with secrets redacted.
    Check,
}

/// Broker names as clap's possible values, so `--help` and completions list them.
fn broker_parser() -> impl clap::builder::TypedValueParser<Value = Broker> {
    let names: Vec<&'static str> = Broker::ALL.iter().map(|b| b.as_str()).collect();
    clap::builder::PossibleValuesParser::new(names).map(|name| {
        Broker::ALL
            .iter()
            .copied()
            .find(|b| b.as_str() == name)
            .unwrap_or(Broker::Tastytrade) // unreachable: the possible values are the names
    })
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

fn init_logging(g: &Global) {
    let level = match (g.quiet, g.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RECON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match g.log_format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    // `recon rules list | head` must end quietly when the reader goes away, as other Unix
    // tools do, not panic on a broken pipe (Rust ignores SIGPIPE by default).
    recon::allocator::keep_freed_pages();
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(ExitStatus::Usage.code() as u8),
            };
        }
    };
    init_logging(&cli.global);
    let status = match run(&cli) {
        Ok(status) => status,
        Err(e) => {
            eprintln!("recon: {e}");
            e.exit()
        }
    };
    ExitCode::from(status.code() as u8)
}

fn overrides(g: &Global) -> Overrides {
    Overrides {
        out_dir: g.out.clone(),
        as_of: g.as_of,
        fail_on: g.fail_on,
    }
}

fn load_config(g: &Global) -> Result<Config, RunError> {
    config::load(g.config.as_deref()).map_err(|e| RunError::Usage(e.to_string()))
}

fn run(cli: &Cli) -> Result<ExitStatus, RunError> {
    let g = &cli.global;
    match &cli.command {
        Command::Run { resend } => run_command(g, *resend),
        Command::Fetch {
            snapshot_out,
            force,
        } => fetch_command(g, snapshot_out.as_deref(), *force),
        Command::Demo => demo_command(g),
        Command::Rules { packs, command } => rules_command(g, packs, command),
        Command::Init {
            dir,
            brokers,
            force,
        } => init_command(dir, brokers, *force),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "recon", &mut std::io::stdout());
            Ok(ExitStatus::Clean)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map_err(|e| RunError::Usage(format!("cannot write the man page: {e}")))?;
            Ok(ExitStatus::Clean)
        }
        Command::Report(ReportCommand::Send { run_dir, resend }) => {
            send_command(g, run_dir, *resend)
        }
        Command::Config(ConfigCommand::Check) => {
            let config = load_config(g)?;
            print!("{}", config.redacted_toml());
            Ok(ExitStatus::Clean)
        }
        Command::Sim(args) => sim_command(g, args),
        Command::Export { snapshot, out } => export_command(g, snapshot, out),
        Command::Check {
            snapshot,
            engine,
            spark_remote,
            frames,
            packs,
            waivers,
            resend,
        } => {
            let engine = check_engine(*engine, spark_remote, frames, snapshot.is_some())?;
            check_command(
                g,
                snapshot.as_deref(),
                engine,
                packs,
                waivers.as_deref(),
                *resend,
            )
        }
    }
}

/// `recon run`: fetch, check, report, deliver.
fn run_command(g: &Global, resend: bool) -> Result<ExitStatus, RunError> {
    let mut config = load_config(g)?;
    if let Some(b) = g.memory_budget {
        config.memory_budget = Some(b);
    }
    let plan = RunPlan::new(&config, &overrides(g));
    let (result, manifest) = recon::run::run(&config, &plan, resend)?;
    print_run(&result, g.json, Some(&manifest));
    print_timings(g, &result.output.summary);
    Ok(result.exit)
}

/// `recon demo`: the built-in simulator's book, fetched and checked.
fn demo_command(g: &Global) -> Result<ExitStatus, RunError> {
    let demo = run_demo(&DemoOptions {
        out_dir: g
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_OUT_DIR)),
        as_of: g.as_of,
        fail_on: g.fail_on.unwrap_or(Severity::Error),
    })?;
    print_run(&demo.run, g.json, Some(&demo.manifest));
    print_timings(g, &demo.run.output.summary);
    Ok(demo.run.exit)
}

/// `recon init`: a config file and a `.env` template for the chosen brokers.
fn init_command(dir: &Path, brokers: &[Broker], force: bool) -> Result<ExitStatus, RunError> {
    let written =
        recon::init::init(dir, brokers, force).map_err(|e| RunError::Usage(e.to_string()))?;
    println!("wrote {}", written.config.display());
    println!(
        "wrote {} (mode 0600): fill in the credentials, then `recon config check`",
        written.env.display()
    );
    Ok(ExitStatus::Clean)
}

/// `recon sim`: the simulated brokers, until stopped.
fn sim_command(g: &Global, args: &SimArgs) -> Result<ExitStatus, RunError> {
    recon::sim::serve(&recon::sim::SimCommand {
        book: args.book.clone(),
        seed: args.seed,
        accounts: args.accounts,
        positions_per_account: args.positions_per_account,
        break_rate: args.break_rate,
        as_of: g.as_of,
        expected: args.expected.clone(),
        book_of_record: args.book_of_record.clone(),
        max_seconds: args.max_seconds,
        faults: args.faults.clone(),
        unreachable: args.unreachable.clone(),
    })?;
    Ok(ExitStatus::Clean)
}

/// The engine `recon check` runs on; the local engine reads a snapshot.
fn check_engine(
    engine: EngineArg,
    spark_remote: &Option<String>,
    frames: &Option<String>,
    has_snapshot: bool,
) -> Result<Engine, RunError> {
    let engine = match engine {
        EngineArg::Local => Engine::Local,
        EngineArg::Spark => Engine::Spark {
            remote: spark_remote.clone().unwrap_or_default(),
            frames: frames.clone().unwrap_or_default(),
        },
    };
    if engine == Engine::Local && !has_snapshot {
        return Err(RunError::Usage(
            "--snapshot is needed with the local engine (--frames is for --engine spark)".into(),
        ));
    }
    Ok(engine)
}

/// `recon fetch`: the brokers into a snapshot folder; exit 4 when any broker is incomplete.
fn fetch_command(
    g: &Global,
    snapshot_out: Option<&Path>,
    force: bool,
) -> Result<ExitStatus, RunError> {
    let config = load_config(g)?;
    let plan = RunPlan::new(&config, &overrides(g));
    let snapshot = snapshot_out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| plan.run_dir.join("snapshot"));
    let (manifest, ms) = recon::run::fetch(&config, &snapshot, plan.as_of, force)?;
    let incomplete = manifest
        .brokers
        .values()
        .any(|b| !b.errors.is_empty() || b.status != FetchStatus::Complete);
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&manifest).unwrap_or_default()
        );
    } else {
        for line in broker_lines(&manifest) {
            println!("fetched {line}");
        }
        println!("fetch took {ms} ms; snapshot: {}", snapshot.display());
    }
    if g.timings {
        let rss =
            recon::pipeline::peak_rss_kib().map_or("?".into(), |k| format!("{} MiB", k / 1024));
        eprintln!("timings: fetch {ms} ms; peak memory {rss}");
    }
    Ok(if incomplete {
        ExitStatus::Incomplete
    } else {
        ExitStatus::Clean
    })
}

/// `recon report send`: a finished run's email, to those who do not have it yet.
fn send_command(g: &Global, run_dir: &Path, resend: bool) -> Result<ExitStatus, RunError> {
    // Sending fetches nothing: broker credentials are not needed.
    let config =
        config::load_offline(g.config.as_deref()).map_err(|e| RunError::Usage(e.to_string()))?;
    let Some(settings) = config.email_settings() else {
        return Err(RunError::Usage(
            "email is not enabled: set [email] enabled = true in the config".into(),
        ));
    };
    let settings = recon_report::email::EmailSettings { resend, ..settings };
    let outcome = recon::pipeline::send_run(run_dir, &settings)?;
    if !outcome.possibly_sent_before.is_empty() {
        println!(
            "possibly sent before to {}: an earlier attempt died before recording the outcome; not sent again (--resend sends it)",
            outcome.possibly_sent_before.join(", ")
        );
    }
    match outcome.sent_to.len() {
        0 => println!(
            "nothing to send for {}: every recipient has it already (--resend sends it again)",
            run_dir.display()
        ),
        n => println!(
            "delivered the email of {} to {n} recipient(s)",
            run_dir.display()
        ),
    }
    Ok(ExitStatus::Clean)
}

/// `recon check`: the rules over a snapshot already on disk, honouring the config.
/// `recon export`: a snapshot's frames as Parquet.
fn export_command(g: &Global, snapshot: &Path, out: &Path) -> Result<ExitStatus, RunError> {
    let started = std::time::Instant::now();
    let chunking = g.chunking().unwrap_or_default();
    // The books of record of the config go with the frames, as a check would compare them.
    let books = if config::is_present(g.config.as_deref()) {
        config::load_offline(g.config.as_deref())
            .map_err(|e| RunError::Usage(e.to_string()))?
            .book_specs()
    } else {
        Vec::new()
    };
    let manifest = recon::spark_check::export_snapshot(
        snapshot,
        out,
        g.as_of,
        chunking,
        !g.quiet && !g.json,
        &books,
    )?;
    let ms = started.elapsed().as_millis();
    if g.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&manifest).unwrap_or_default()
        );
    } else {
        let rows = |f: &str| manifest.frames.get(f).map_or(0, |i| i.rows);
        println!(
            "exported {} accounts, {} positions, {} P&L rows of {} in {} chunks to {} ({ms} ms)",
            rows("accounts"),
            rows("positions"),
            rows("pnl"),
            manifest.as_of,
            manifest.chunks,
            out.display()
        );
        if manifest.has_books() {
            println!(
                "with the books {}: {} booked positions, {} cash rows",
                manifest.books.join(", "),
                rows("book_positions"),
                rows("book_cash")
            );
        }
    }
    Ok(ExitStatus::Clean)
}

fn check_command(
    g: &Global,
    snapshot: Option<&Path>,
    engine: Engine,
    packs: &[PathBuf],
    waivers: Option<&Path>,
    resend: bool,
) -> Result<ExitStatus, RunError> {
    // A replay honours the config exactly as `recon run` does: packs, params,
    // waivers, email, out_dir, fail_on. Credentials are not needed to check.
    let config = if config::is_present(g.config.as_deref()) {
        Some(
            config::load_offline(g.config.as_deref())
                .map_err(|e| RunError::Usage(e.to_string()))?,
        )
    } else {
        None
    };
    let setup = recon::run::CheckSetup::new(config.as_ref(), packs, waivers, resend)?;
    let out_dir = g
        .out
        .clone()
        .or_else(|| config.as_ref().map(|c| c.out_dir.relative()))
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_OUT_DIR));
    let fail_on = g
        .fail_on
        .or(config.as_ref().map(|c| c.fail_on))
        .unwrap_or(Severity::Error);
    let chunking = g.chunking().unwrap_or(setup.chunking);
    let run = recon::check_snapshot(&CheckOptions {
        snapshot: snapshot.map(Path::to_path_buf).unwrap_or_default(),
        engine,
        out_dir,
        as_of: g.as_of,
        fail_on,
        chunking,
        progress: !g.quiet && !g.json,
        ..CheckOptions::from_setup(setup)
    })?;
    print_run(&run, g.json, None);
    print_timings(g, &run.output.summary);
    Ok(run.exit)
}

fn rules_command(
    g: &Global,
    packs: &[PathBuf],
    command: &RulesCommand,
) -> Result<ExitStatus, RunError> {
    let files =
        if packs.is_empty() && (g.config.is_some() || Path::new(config::DEFAULT_FILE).is_file()) {
            load_config(g)?
                .pack_files()
                .map_err(|e| RunError::Usage(e.to_string()))?
        } else {
            packs.to_vec()
        };
    let packs = load_packs(&files)?;
    match command {
        RulesCommand::List => {
            print!("{}", recon::rules_cli::list(&packs));
            Ok(ExitStatus::Clean)
        }
        RulesCommand::Validate => {
            let count = recon::rules_cli::validate(&packs)?;
            let warnings = recon::rules_cli::doc_warnings(&packs);
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{count} rules in {} packs: valid{}",
                packs.len(),
                match warnings.len() {
                    0 => String::new(),
                    n => format!(" ({n} with incomplete docs)"),
                }
            );
            Ok(ExitStatus::Clean)
        }
        RulesCommand::Explain { id } => {
            let rule = packs
                .iter()
                .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
                .find(|(_, r)| &r.id == id);
            let Some((pack, rule)) = rule else {
                let ids = packs
                    .iter()
                    .flat_map(|p| p.rules.iter().map(|r| r.id.as_str()));
                let hint = recon_rules::pack::nearest(id, ids)
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                return Err(RunError::Usage(format!("no rule `{id}`{hint}")));
            };
            print!("{}", recon::rules_cli::explain(pack, rule));
            Ok(ExitStatus::Clean)
        }
        RulesCommand::Test { cases } => {
            let (report, failed) = recon::rules_cli::test(cases, &packs);
            print!("{report}");
            Ok(if failed > 0 {
                ExitStatus::Findings
            } else {
                ExitStatus::Clean
            })
        }
    }
}

/// `--timings`: stage times and peak memory, on stderr so stdout stays the report.
fn print_timings(g: &Global, summary: &recon_report::Summary) {
    if !g.timings {
        return;
    }
    let ms = |s: &str| summary.timings_ms.get(s).copied();
    // Each stage, then its parts (`normalize.parse`, `books.read`, …) in the order they ran.
    let stages: Vec<String> = ["fetch", "normalize", "views", "books", "rules", "report"]
        .iter()
        .filter_map(|s| {
            let total = ms(s)?;
            let parts: Vec<String> = ["parse", "frames", "read", "views"]
                .iter()
                .filter_map(|p| Some(format!("{p} {}", ms(&format!("{s}.{p}"))?)))
                .collect();
            Some(if parts.is_empty() {
                format!("{s} {total} ms")
            } else {
                format!("{s} {total} ms ({})", parts.join(", "))
            })
        })
        .collect();
    let rss = summary
        .peak_rss_kib
        .map_or("?".into(), |k| format!("{} MiB", k / 1024));
    eprintln!("timings: {}; peak memory {rss}", stages.join(", "));
}

/// One line per broker: status, accounts, requests.
fn broker_lines(manifest: &Manifest) -> Vec<String> {
    manifest
        .brokers
        .iter()
        .map(|(name, b)| {
            let status = match b.status {
                FetchStatus::Complete => "complete",
                FetchStatus::Partial => "PARTIAL",
                FetchStatus::Failed => "FAILED",
            };
            format!(
                "{name}: {status}, {} accounts, {} requests, {} errors",
                b.accounts.len(),
                b.requests.as_ref().map_or(0, Vec::len),
                b.errors.len()
            )
        })
        .collect()
}

fn print_run(run: &RunResult, json: bool, manifest: Option<&Manifest>) {
    let summary = &run.output.summary;
    if json {
        match serde_json::to_string_pretty(summary) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("recon: cannot print the summary: {e}"),
        }
        return;
    }
    let color = std::io::stdout().is_terminal();
    println!("recon — as of {}, run {}", summary.as_of, summary.run_id);
    if let Some(manifest) = manifest {
        for line in broker_lines(manifest) {
            println!("  fetched {line}");
        }
    }
    let timings: Vec<String> = summary
        .timings_ms
        .iter()
        .map(|(stage, ms)| format!("{stage} {ms} ms"))
        .collect();
    println!("  {}", timings.join(", "));
    println!("  {}", table::scope_line(summary));
    let width = table::output_width(std::io::stdout().is_terminal());
    for line in table::incomplete_lines(summary, width) {
        println!("{line}");
    }
    if !run.findings.is_empty() {
        println!("{}", table::findings_table(&run.findings, width));
    }
    let worst = run.findings.iter().map(|f| f.severity).max();
    let counts = table::counts_line(&run.findings);
    let counts = match worst {
        Some(s) => table::paint(s, &counts, color),
        None => counts,
    };
    println!("{counts} → exit {}", run.exit.code());
    println!("report: {}", run.output.dir.join("report.html").display());
    println!("summary: {}", run.output.dir.join("summary.json").display());
}
