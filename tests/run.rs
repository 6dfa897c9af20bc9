//! `recon run`, `recon fetch` and `recon config check` through the real binary, against the
//! simulator over HTTP, with credentials from the environment as a cron job would pass them.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn run_fetches_checks_and_reports_with_credentials_from_the_environment() {
    let sim = demo_sim().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recon.toml"),
        format!(
            "as_of = \"2026-11-20\"\nout_dir = \"out\"\n\n[brokers.tradezero]\nbase_url = \"{}\"\n",
            sim.url(recon_model::Broker::Tradezero).unwrap()
        ),
    )
    .unwrap();
    let creds = &recon_sim::tradezero::Credentials::from_sim(&sim.credentials);
    let env = [
        (
            "RECON_BROKERS__TRADEZERO__API_KEY_ID",
            creds.api_key_id.as_str(),
        ),
        (
            "RECON_BROKERS__TRADEZERO__API_SECRET_KEY",
            creds.api_secret_key.as_str(),
        ),
    ];
    let out = recon_blocking(dir.path(), &["run", "-v"], &env).await;
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
    let out = recon_blocking(dir.path(), &["config", "check"], &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("[redacted]") && !printed.contains(&creds.api_secret_key),
        "{printed}"
    );

    // `fetch` writes only the snapshot.
    let snap = dir.path().join("snap");
    let snap_arg = snap.display().to_string();
    let out = recon_blocking(dir.path(), &["fetch", "--snapshot-out", &snap_arg], &env).await;
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
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
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
    let out = recon_in(dir.path(), &["run"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("brokers.tradezero.concurency") && stderr.contains("recon.toml line 4"),
        "{stderr}"
    );
    // No broker configured at all is a usage error too, not a clean run.
    let empty = tempfile::tempdir().unwrap();
    let out = recon_in(empty.path(), &["run"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no broker is enabled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn all_five_brokers_run_from_environment_credentials_and_no_secret_is_logged() {
    let sim = demo_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (toml, env) = five_broker_config(&sim, "");
    std::fs::write(dir.path().join("recon.toml"), toml).unwrap();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = recon_blocking(
        dir.path(),
        &["run", "-vv", "--log-format", "json"],
        &env_refs,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let run_dir = latest_run(&dir.path().join("out"));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    let expected: Value = serde_json::from_slice(
        &std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/expected.json"),
        )
        .unwrap(),
    )
    .unwrap();
    // The demo's planted breaks, less those against its book of record: this config names
    // no book.
    let books_rules: Vec<String> = recon_rules::pack::builtin_pack("books")
        .unwrap()
        .unwrap()
        .rules
        .iter()
        .map(|r| r.id.clone())
        .collect();
    let without_books = expected["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !books_rules.iter().any(|r| f["rule"] == r.as_str()))
        .count();
    assert_eq!(summary["counts"]["total"], without_books);
    assert_eq!(summary["complete"], true);
    // No credential in the (verbose, JSON) log or in any file of the run.
    let log = text(&out);
    assert!(log.contains("\"fetched\""), "{log}");
    for (name, secret) in &env {
        assert!(!log.contains(secret.as_str()), "{name} is in the log");
        for file in all_files(&dir.path().join("out")) {
            let body = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            assert!(
                !body.contains(secret.as_str()),
                "{name} is in {}",
                file.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_broker_down_among_five_exits_2_naming_it_and_the_others_are_still_checked() {
    // The simulator announces Clear Street but nothing listens on its port.
    let sim = recon_sim::start(
        recon_sim::SimBook::demo(),
        recon_sim::SimCredentials::random(),
        recon_sim::SimOptions {
            unreachable: vec![recon_model::Broker::Clearstreet],
            ..recon_sim::SimOptions::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Credentials from the environment, timeouts short so the refused port fails fast.
    let (toml, env) = five_broker_config(&sim, "timeout_secs = 5\nretries = 1\n");
    std::fs::write(dir.path().join("recon.toml"), toml).unwrap();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = recon_blocking(dir.path(), &["run"], &env_refs).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("clearstreet: FAILED"),
        "{}",
        text(&out)
    );
    let run_dir = latest_run(&dir.path().join("out"));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], false);
    let incomplete = summary["incomplete"].as_array().unwrap();
    assert!(
        incomplete.iter().all(|i| i["broker"] == "clearstreet") && !incomplete.is_empty(),
        "{incomplete:?}"
    );
    // The report names the broker; the four others were checked as usual.
    let report = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(report.contains("clearstreet"), "{report}");
    let findings = std::fs::read_to_string(run_dir.join("findings.jsonl")).unwrap();
    assert!(findings.contains("\"fetch-incomplete\""), "{findings}");
    for broker in ["tradezero", "tastytrade", "etrade", "architect"] {
        assert!(
            findings.contains(&format!("\"broker\":\"{broker}\"")),
            "no {broker} findings: {findings}"
        );
    }
}
