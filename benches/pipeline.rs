//! Large-account benches: a generated book (seeded, 100 positions per account) is served by
//! the simulator, fetched once over HTTP into a snapshot cached under
//! `<target>/bench-data/`, and reused. Stages are benched alone (parse, frame build, views,
//! all shipped packs, report files) and end to end (`check_snapshot`, with the default memory
//! budget and in chunks of 100 accounts), at 1,000 and 10,000 accounts (the 100,000- and
//! 300,000-account rows of docs/performance.md are measured with the binary). The book of
//! record of the same generated book (`recon_sim::record`, CSV with CUSIPs) is benched
//! too: read, its views (`position_recon`, `cash_recon`) over the whole book, and a check
//! with it end to end. And simd-json against serde_json on the brokers' bodies
//! (`json_parsers`).
//!
//! `cargo bench` runs them; `cargo test --benches` runs each once as a smoke test.

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use recon::demo::{DemoOptions, run_book};
use recon::pipeline::{CheckOptions, Chunking, check_snapshot};
use recon_frames::books::{BookSpec, read_book};
use recon_frames::{build_frames_of_parts, normalize_snapshot, read_snapshot};
use recon_report::{RunFacts, write_run};
use recon_rules::views::book_frames;
use recon_rules::{Severity, Views, compile, evaluate};
use recon_sim::generate::{GenSpec, generate};
use std::path::PathBuf;
use std::time::Duration;

const POSITIONS: usize = 100;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The cached snapshot of a generated book of `accounts` × 100 positions, and the spec of
/// its book of record.
fn generated_snapshot(accounts: usize) -> (PathBuf, BookSpec) {
    // gen3: E*TRADE fetched in the Complete view (CUSIPs), and the book of record beside.
    let root = target_dir().join(format!(
        "bench-data/gen3-five-brokers-seed7-{accounts}x{POSITIONS}"
    ));
    let snapshot = root.join("snapshot");
    let record = root.join("book-of-record");
    let book_spec = BookSpec {
        name: "oms".into(),
        positions: record.join("positions.csv").display().to_string(),
        cash: Some(record.join("cash.csv").display().to_string()),
        ..BookSpec::default()
    };
    if snapshot.join("manifest.json").is_file() && record.join("cash.csv").is_file() {
        return (snapshot, book_spec);
    }
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 20).expect("valid date");
    let spec = GenSpec {
        break_rate: 0.02,
        ..GenSpec::new(7, accounts, POSITIONS, as_of)
    };
    let (book, _) = generate(&spec);
    let of_record = recon_sim::record::book_of_record(&book, 7, 0.02);
    std::fs::create_dir_all(&record).expect("book folder");
    std::fs::write(record.join("positions.csv"), of_record.positions_csv()).expect("written");
    std::fs::write(record.join("cash.csv"), of_record.cash_csv()).expect("written");
    let result = run_book(
        book,
        &DemoOptions {
            out_dir: root.join("run"),
            as_of: None,
            fail_on: Severity::Critical,
        },
    )
    .expect("the generated book is fetched");
    std::fs::rename(result.run.output.dir.join("snapshot"), &snapshot).expect("snapshot cached");
    (snapshot, book_spec)
}

/// Every shipped pack: core, risk and data-quality.
fn all_packs() -> Vec<recon_rules::Pack> {
    recon::pipeline::load_packs(&["core", "risk", "data-quality"].map(PathBuf::from))
        .expect("the shipped packs load")
}

fn stages_of(c: &mut Criterion, accounts: usize) {
    let (snapshot, book_spec) = generated_snapshot(accounts);
    let packs = all_packs();
    let mut group = c.benchmark_group(format!("{accounts}x{POSITIONS}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(if accounts > 1_000 { 30 } else { 10 }));

    group.bench_function("parse", |b| {
        b.iter(|| read_snapshot(&snapshot, None).expect("reads"))
    });
    let read = read_snapshot(&snapshot, None).expect("reads");
    group.bench_function("frames", |b| {
        b.iter(|| {
            build_frames_of_parts(&read.parts, &read.incomplete, &read.fetch_errors)
                .expect("frames")
        })
    });
    drop(read);
    let normalized = normalize_snapshot(&snapshot, None).expect("normalizes");
    group.bench_function("views", |b| {
        b.iter(|| Views::build(&normalized.frames, normalized.as_of).expect("views"))
    });
    let views = Views::build(&normalized.frames, normalized.as_of).expect("views");
    book_stages(&mut group, &book_spec, &views, normalized.as_of);
    let rules = compile(&packs, &views).expect("compiles");
    group.bench_function("rules (all packs)", |b| b.iter(|| evaluate(&rules, &views)));

    let evaluation = evaluate(&rules, &views);
    let facts = RunFacts {
        run_id: "bench".into(),
        as_of: normalized.as_of,
        started_at: chrono::Utc::now(),
        timings_ms: Vec::new(),
        packs: Vec::new(),
        brokers: Vec::new(),
        accounts_checked: normalized.frames.accounts.height() as u64,
        positions_checked: normalized.frames.positions.height() as u64,
        incomplete: Vec::new(),
        exit_code: 1,
        config_sha256: None,
        peak_rss_kib: None,
        accounts: views.account_figures(),
    };
    let out = tempfile::tempdir().expect("temp dir");
    let mut n = 0u64;
    group.bench_function("report", |b| {
        b.iter(|| {
            n += 1;
            let mut findings = evaluation.findings.clone();
            let dir = out.path().join(format!("report-{n}"));
            write_run(out.path(), &dir, &facts, &mut findings, &evaluation.stats)
                .expect("report written")
        })
    });
    drop((views, rules, normalized));
    end_to_end(&mut group, &snapshot, &packs, &book_spec, out.path());
    group.finish();
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The book of record read, and its views over the whole generated book.
fn book_stages(group: &mut Group<'_>, book_spec: &BookSpec, views: &Views, as_of: NaiveDate) {
    group.bench_function("book read", |b| {
        b.iter(|| read_book(book_spec, as_of).expect("the book reads"))
    });
    let book = read_book(book_spec, as_of).expect("the book reads");
    let frame = |name: &str| views.get(name).expect("a view");
    group.bench_function("book views", |b| {
        b.iter(|| {
            book_frames(
                frame("accounts"),
                frame("positions"),
                frame("balances"),
                &book,
                as_of,
            )
            .expect("book views")
        })
    });
}

/// `check_snapshot` whole: the default budget (the whole book at 1,000 accounts, a few
/// chunks at 10,000), chunks of 100 accounts (what checking in chunks costs per chunk),
/// and with the book of record (the books pack beside the others).
fn end_to_end(
    group: &mut Group<'_>,
    snapshot: &std::path::Path,
    packs: &[recon_rules::Pack],
    book_spec: &BookSpec,
    out: &std::path::Path,
) {
    let mut n = 0u64;
    let packs = packs.to_vec();
    let mut with_book = packs.clone();
    with_book.push(
        recon_rules::pack::builtin_pack("books")
            .expect("books is built in")
            .expect("loads"),
    );
    for (name, chunking, packs, books) in [
        ("check end to end", Chunking::default(), &packs, vec![]),
        (
            "check in chunks of 100 accounts",
            Chunking::Accounts(100),
            &packs,
            vec![],
        ),
        (
            "check end to end with the book",
            Chunking::default(),
            &with_book,
            vec![book_spec.clone()],
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                check_snapshot(&CheckOptions {
                    snapshot: snapshot.to_path_buf(),
                    out_dir: out.to_path_buf(),
                    run_dir: None,
                    run_id: format!("bench-{n}"),
                    as_of: None,
                    fail_on: Severity::Error,
                    packs: packs.clone(),
                    earlier_timings: Vec::new(),
                    waivers: Vec::new(),
                    overrides: Default::default(),
                    email: None,
                    config_sha256: None,
                    books: books.clone(),
                    chunking,
                    progress: false,
                    engine: Default::default(),
                })
                .expect("check runs")
            })
        });
    }
}

/// simd-json (which polars already builds) against serde_json on the brokers' own bodies
/// (issue #18 asked whether it wins). Per broker, three passes over the same bodies held in
/// memory: serde_json checking the syntax and skipping every value (`IgnoredAny`: the
/// least a serde_json parse does), simd-json's tape (both of its stages: structure found
/// with SIMD, then values), and recon's own parse of the broker's accounts (typed structs,
/// exact numbers, canonical rows; its files read from the page cache), all on one thread.
/// simd-json could only pay where the syntax pass is most of a parse.
fn json_parsers(c: &mut Criterion) {
    let (snapshot, _) = generated_snapshot(1_000);
    let open = recon_frames::snapshot::open_snapshot(&snapshot, None).expect("opens");
    let accounts = open.accounts();
    let mut group = c.benchmark_group("json 1000x100");
    group.sample_size(10);
    for broker in 0..5 {
        let part: Vec<_> = accounts
            .iter()
            .copied()
            .filter(|a| a.broker == broker)
            .collect();
        let Some(first) = part.first() else { continue };
        let name = open.names(*first).0.to_string();
        let bodies: Vec<Vec<u8>> = part
            .iter()
            .flat_map(|a| std::fs::read_dir(open.folder(*a)).expect("account folder"))
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .map(|path| std::fs::read(path).expect("body"))
            .collect();
        if bodies.is_empty() {
            continue;
        }
        group.bench_function(format!("{name}/serde_json syntax"), |b| {
            b.iter(|| {
                for body in &bodies {
                    let _: serde::de::IgnoredAny =
                        serde_json::from_slice(body).expect("valid JSON");
                }
            })
        });
        let mut buffers = simd_json::Buffers::default();
        let mut copy = Vec::new();
        group.bench_function(format!("{name}/simd-json tape"), |b| {
            b.iter(|| {
                let mut nodes = 0;
                for body in &bodies {
                    // simd-json parses in place: each body is copied first, as a reader
                    // handing it the file's bytes would have to.
                    copy.clear();
                    copy.extend_from_slice(body);
                    nodes += simd_json::to_tape_with_buffers(&mut copy, &mut buffers)
                        .expect("valid JSON")
                        .0
                        .len();
                }
                nodes
            })
        });
        // On one thread, as the two above (a run reads a chunk's accounts on every core).
        let one_thread = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a thread pool");
        group.bench_function(format!("{name}/recon parse"), |b| {
            b.iter(|| one_thread.install(|| open.read(&part)))
        });
    }
    group.finish();
}

fn stages(c: &mut Criterion) {
    json_parsers(c);
    stages_of(c, 1_000);
    // 10,000 × 100 (1 GiB, ~5 minutes with its snapshot's first fetch); skipped by
    // `cargo test --benches` (one pass of each bench), which must stay quick.
    if !cfg!(debug_assertions) {
        stages_of(c, 10_000);
    }
}

criterion_group!(benches, stages);
criterion_main!(benches);
