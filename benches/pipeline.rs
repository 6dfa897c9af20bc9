//! End-to-end check of the demo snapshot: normalize → views → rules → report. The large
//! generated books come with the simulator's generator (issue 9); this bench keeps the
//! harness honest until then.

use criterion::{Criterion, criterion_group, criterion_main};
use recon::demo::{DemoOptions, run_demo};
use recon::pipeline::{CheckOptions, builtin_packs, check_snapshot};
use recon_rules::Severity;

fn demo_check(c: &mut Criterion) {
    let out = tempfile::tempdir().expect("temp dir");
    let demo = run_demo(&DemoOptions {
        out_dir: out.path().to_path_buf(),
        as_of: None,
        fail_on: Severity::Error,
    })
    .expect("demo runs");
    let snapshot = demo.run.output.dir.join("snapshot");
    let packs = builtin_packs().expect("core pack");
    let mut n = 0u64;
    c.bench_function("check demo snapshot", |b| {
        b.iter(|| {
            n += 1;
            check_snapshot(&CheckOptions {
                snapshot: snapshot.clone(),
                out_dir: out.path().join("bench"),
                run_dir: None,
                run_id: format!("bench-{n}"),
                as_of: None,
                fail_on: Severity::Error,
                packs: packs.clone(),
                earlier_timings: Vec::new(),
                waivers: Vec::new(),
                overrides: Default::default(),
            })
            .expect("check runs")
        })
    });
}

criterion_group!(benches, demo_check);
criterion_main!(benches);
