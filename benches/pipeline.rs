//! Large-account benches: a generated book (seeded, 100 positions per account) is served by
//! the simulator, fetched once over HTTP into a snapshot cached under
//! `<target>/bench-data/`, and reused. Stages are benched alone (normalize, views, rules) and
//! end to end (`check_snapshot`, reports included).
//!
//! `cargo bench` runs them; `cargo test --benches` runs each once as a smoke test.

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use recon::demo::{DemoOptions, run_book};
use recon::pipeline::{CheckOptions, builtin_packs, check_snapshot};
use recon_normalize::normalize_snapshot;
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

/// The cached snapshot of a generated book of `accounts` × 100 positions.
fn generated_snapshot(accounts: usize) -> PathBuf {
    let root = target_dir().join(format!(
        "bench-data/gen2-five-brokers-seed7-{accounts}x{POSITIONS}"
    ));
    let snapshot = root.join("snapshot");
    if snapshot.join("manifest.json").is_file() {
        return snapshot;
    }
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 20).expect("valid date");
    let spec = GenSpec {
        break_rate: 0.02,
        ..GenSpec::new(7, accounts, POSITIONS, as_of)
    };
    let (book, _) = generate(&spec);
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
    snapshot
}

fn stages(c: &mut Criterion) {
    let accounts = 1_000;
    let snapshot = generated_snapshot(accounts);
    let packs = builtin_packs().expect("core pack");
    let mut group = c.benchmark_group(format!("{accounts}x{POSITIONS}"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));

    group.bench_function("normalize", |b| {
        b.iter(|| normalize_snapshot(&snapshot, None).expect("normalizes"))
    });
    let normalized = normalize_snapshot(&snapshot, None).expect("normalizes");
    group.bench_function("views", |b| {
        b.iter(|| Views::build(&normalized.frames, normalized.as_of).expect("views"))
    });
    let views = Views::build(&normalized.frames, normalized.as_of).expect("views");
    let rules = compile(&packs, &views).expect("compiles");
    group.bench_function("rules", |b| b.iter(|| evaluate(&rules, &views)));

    let out = tempfile::tempdir().expect("temp dir");
    let mut n = 0u64;
    group.bench_function("check end to end", |b| {
        b.iter(|| {
            n += 1;
            check_snapshot(&CheckOptions {
                snapshot: snapshot.clone(),
                out_dir: out.path().to_path_buf(),
                run_dir: None,
                run_id: format!("bench-{n}"),
                as_of: None,
                fail_on: Severity::Error,
                packs: packs.clone(),
                earlier_timings: Vec::new(),
                waivers: Vec::new(),
                overrides: Default::default(),
                email: None,
            })
            .expect("check runs")
        })
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
