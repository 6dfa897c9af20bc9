//! A crash leaves nothing a later run mistakes for complete. `recon run` against the five
//! simulated brokers and a loopback SMTP server is killed with SIGKILL at points drawn
//! from a fixed seed (during the fetch, the parse, the report files, the email), a few
//! dozen times. After each kill: `latest.json` names a finished run, no folder named
//! `snapshot` lacks its manifest, and the email ledger is readable. At the end, one run
//! that is let finish shows the email delivered exactly once, or recorded as "possibly
//! sent before" — never twice, never silently lost.

mod common;
#[path = "email/smtp.rs"]
#[allow(dead_code)] // this test reads only how many messages arrived
mod smtp;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64*): the kill points are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn spawn_run(dir: &Path, env: &[(String, String)]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recon"));
    cmd.current_dir(dir)
        .args(["run", "-q"])
        .env_remove("RECON_CONFIG")
        .env_remove("RECON_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("recon starts")
}

/// Every folder named `snapshot` below `dir` has its manifest: a fetch that died left only
/// a hidden `.snapshot.partial-…` folder.
fn assert_no_snapshot_without_manifest(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "snapshot") {
            assert!(
                path.join("manifest.json").is_file(),
                "{} has no manifest",
                path.display()
            );
        } else {
            assert_no_snapshot_without_manifest(&path);
        }
    }
}

/// `latest.json`, if there is one, names a run whose outputs are all there.
fn assert_latest_is_complete(out: &Path) {
    if !out.join("latest.json").exists() {
        return;
    }
    let run = latest_run(out);
    for file in [
        "summary.json",
        "findings.jsonl",
        "findings.csv",
        "report.html",
        "snapshot/manifest.json",
    ] {
        assert!(
            run.join(file).is_file(),
            "latest.json names {} without {file}",
            run.display()
        );
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap())
            .expect("summary.json of the latest run is whole JSON");
    assert!(summary["exit_code"].is_number());
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_killed_at_random_points_leave_a_consistent_state() {
    let sim = demo_sim().await;
    let (port, inbox) = smtp::smtp_server(smtp::SmtpOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut config, env) = five_broker_config(&sim, "");
    config.push_str(&format!(
        "\n[email]\nenabled = true\ntransport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"recon@example.com\"\nto = [\"compliance@example.com\"]\n"
    ));
    std::fs::write(dir.path().join("recon.toml"), config).unwrap();
    let root = dir.path().to_path_buf();

    let probe_inbox = inbox.clone();
    let (kills, final_status) = tokio::task::spawn_blocking(move || {
        // How long one run takes here: kill points are spread over 0..1.2 × that. The
        // fastest of three runs: the first run of a fresh build also pages the binary in,
        // and a span taken from it alone put most kill points after the later, faster runs
        // had ended.
        let mut fastest = Duration::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            let status = spawn_run(&root, &env).wait().unwrap();
            assert_eq!(status.code(), Some(1), "a whole run ends with findings");
            fastest = fastest.min(started.elapsed());
        }
        let span = fastest.as_millis().max(50) as u64 * 6 / 5;
        let probe_emails = probe_inbox.lock().unwrap().len();
        // The probe's email went out and its run is latest: start from a fresh out dir so
        // the kills below decide the email's fate.
        std::fs::remove_dir_all(root.join("out")).unwrap();

        let mut rng = Rng(0x5EED_CAFE_F00D_0001);
        let mut kills = 0;
        for _ in 0..30 {
            let at = Duration::from_millis(rng.next() % span);
            let mut child = spawn_run(&root, &env);
            std::thread::sleep(at);
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
            }
            let _ = child.wait();
            let out = root.join("out");
            assert_latest_is_complete(&out);
            assert_no_snapshot_without_manifest(&out);
            if out.join("email-ledger.jsonl").exists() {
                recon_report::email::ledger::Ledger::open(&out)
                    .expect("the ledger stays readable after a kill");
            }
        }
        // One run let finish.
        let last = spawn_run(&root, &env).wait().unwrap();
        (kills, (last.code(), root, probe_emails))
    })
    .await
    .unwrap();
    let (code, root, probe_emails) = final_status;
    assert!(
        kills >= 10,
        "only {kills} runs were killed: the kill points miss the run"
    );
    assert_eq!(code, Some(1));
    let out = root.join("out");
    assert_latest_is_complete(&out);
    assert_no_snapshot_without_manifest(&out);

    // The probes' emails, plus at most one more: the kills never made a second.
    let delivered = inbox.lock().unwrap().len() - probe_emails;
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest_run(&out).join("summary.json")).unwrap())
            .unwrap();
    let unknown = summary["email"]["possibly_sent_before"]
        .as_array()
        .is_some_and(|a| !a.is_empty());
    assert!(delivered <= 1, "the email went out {delivered} times");
    assert!(
        delivered == 1 || unknown,
        "not delivered and not recorded as possibly sent: {summary}"
    );
    if unknown {
        // Recorded as unknown, so nothing was sent after it was: still at most once.
        assert!(delivered <= 1);
    }
}
