//! `recon run`, `recon fetch` and `recon config check` through the real binary, against the
//! simulator over HTTP, with credentials from the environment as a cron job would pass them.

mod common;

use common::*;
use recon_sim::{SimBook, SimCredentials, SimOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn recon(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recon"));
    cmd.current_dir(dir).args(args).env_remove("RECON_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("recon runs")
}

async fn blocking(dir: PathBuf, args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        recon(&dir, &args, &env)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_fetches_checks_and_reports_with_credentials_from_the_environment() {
    let sim = recon_sim::start(
        SimBook::demo(),
        SimCredentials::random(),
        SimOptions::default(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recon.toml"),
        format!(
            "as_of = \"2026-11-20\"\nout_dir = \"out\"\n\n[brokers.tradezero]\nbase_url = \"{}\"\n",
            sim.url(recon_model::Broker::Tradezero).unwrap()
        ),
    )
    .unwrap();
    let creds = &sim.credentials.tradezero;
    let env = vec![
        (
            "RECON_BROKERS__TRADEZERO__API_KEY_ID".to_string(),
            creds.api_key_id.clone(),
        ),
        (
            "RECON_BROKERS__TRADEZERO__API_SECRET_KEY".to_string(),
            creds.api_secret_key.clone(),
        ),
    ];
    let out = blocking(
        dir.path().to_path_buf(),
        vec!["run".into(), "-v".into()],
        env.clone(),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let run_dir = latest_run(&dir.path().join("out"));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["counts"]["total"], 9);
    assert_eq!(summary["complete"], true);
    // Neither secret reaches the log or any file.
    let log = text(&out);
    assert!(!log.contains(&creds.api_secret_key) && !log.contains(&creds.api_key_id));

    // `config check` prints the effective config, secrets redacted.
    let out = blocking(
        dir.path().to_path_buf(),
        vec!["config".into(), "check".into()],
        env.clone(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("[redacted]") && !printed.contains(&creds.api_secret_key),
        "{printed}"
    );

    // `fetch` writes only the snapshot.
    let snap = dir.path().join("snap");
    let out = blocking(
        dir.path().to_path_buf(),
        vec![
            "fetch".into(),
            "--snapshot-out".into(),
            snap.display().to_string(),
        ],
        env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(snap.join("manifest.json").is_file());
    assert!(snap.join("tradezero/TZ10000001/positions.json").is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_broker_exits_2_and_the_report_names_it() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recon.toml"),
        format!(
            "as_of = \"2026-11-20\"\nout_dir = \"out\"\n[brokers.tradezero]\nbase_url = \"{url}\"\napi_key_id = \"k\"\napi_secret_key = \"s\"\ntimeout_secs = 5\n"
        ),
    )
    .unwrap();
    let out = blocking(dir.path().to_path_buf(), vec!["run".into()], vec![]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("tradezero: FAILED"),
        "{}",
        text(&out)
    );
    let run_dir = latest_run(&dir.path().join("out"));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], false);
    assert_eq!(summary["incomplete"][0]["broker"], "tradezero");
    let findings = std::fs::read_to_string(run_dir.join("findings.jsonl")).unwrap();
    assert!(findings.contains("\"fetch-incomplete\""), "{findings}");
}

#[test]
fn a_bad_config_exits_3_naming_the_key_and_where() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recon.toml"),
        "[brokers.tradezero]\napi_key_id = \"k\"\napi_secret_key = \"s\"\nconcurency = 2\n",
    )
    .unwrap();
    let out = recon(dir.path(), &["run"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("brokers.tradezero.concurency") && stderr.contains("recon.toml line 4"),
        "{stderr}"
    );
    // No broker configured at all is a usage error too, not a clean run.
    let empty = tempfile::tempdir().unwrap();
    let out = recon(empty.path(), &["run"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no broker is enabled"));
}
