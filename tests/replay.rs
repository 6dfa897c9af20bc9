//! The replay invariant: `recon check --snapshot S` under the same config gives exactly the
//! findings `recon run` gave when it fetched S (rule, broker, account, position, severity,
//! status, evidence, message), with a config that sets packs, params per broker and per
//! account, waivers and email; and summary.json says both ran under the same config and
//! packs.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn findings(run_dir: &Path) -> Vec<Value> {
    let mut out: Vec<Value> = std::fs::read_to_string(run_dir.join("findings.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let keep = [
                "rule", "pack", "broker", "account", "position", "symbol", "severity", "status",
                "evidence", "message",
            ];
            Value::Object(
                keep.iter()
                    .map(|k| (k.to_string(), v[*k].clone()))
                    .collect(),
            )
        })
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

fn summary(run_dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_under_the_same_config_gives_the_same_findings() {
    let sim = demo_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (base, env) = five_broker_config(&sim, "");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // A first run finds what there is to waive.
    std::fs::write(dir.path().join("recon.toml"), &base).unwrap();
    let first = recon_blocking(dir.path(), &["run", "--out", "discover"], &env).await;
    assert!(
        first.status.code().is_some_and(|c| c <= 2),
        "{}",
        text(&first)
    );
    let found = findings(&latest_run(&dir.path().join("discover")));
    let waived = found
        .iter()
        // Not one the production config's tolerances below would make disappear.
        .find(|f| {
            f["account"].is_string()
                && !["fetch-incomplete", "account-value-identity"]
                    .contains(&f["rule"].as_str().unwrap())
        })
        .expect("the demo has findings");
    let tz_account = found
        .iter()
        .find(|f| f["broker"] == "tradezero" && f["account"].is_string())
        .map(|f| f["account"].as_str().unwrap().to_string())
        .unwrap();
    std::fs::write(
        dir.path().join("waivers.toml"),
        format!(
            "[[waiver]]\nrule = \"{}\"\nbroker = \"{}\"\naccount = \"{}\"\nreason = \"known\"\nowner = \"ops@example.com\"\nexpires = \"2026-12-31\"\n",
            waived["rule"].as_str().unwrap(),
            waived["broker"].as_str().unwrap(),
            waived["account"].as_str().unwrap()
        ),
    )
    .unwrap();

    // The production config: two packs, params for every account, per broker and for one
    // account, waivers, and email to files.
    let config = format!(
        "{base}\n[rules]\npacks = [\"core\", \"risk\"]\nwaivers = \"waivers.toml\"\n\n\
         [rules.params]\nvalue_tol_abs = \"100000.00\"\n\n\
         [rules.params.tastytrade]\nvalue_tol_abs = \"0.01\"\n\n\
         [rules.params.tradezero.{tz_account}]\nvalue_tol_abs = \"0.00\"\n\n\
         [email]\nenabled = true\ntransport = \"file\"\nfrom = \"recon@example.com\"\nto = [\"ops@example.com\"]\n"
    );
    std::fs::write(dir.path().join("recon.toml"), &config).unwrap();
    let run = recon_blocking(dir.path(), &["run"], &env).await;
    assert!(run.status.code().is_some_and(|c| c <= 2), "{}", text(&run));
    let run_dir = latest_run(&dir.path().join("out"));
    let ran = findings(&run_dir);
    assert!(ran.iter().any(|f| f["pack"] == "risk"), "the risk pack ran");
    assert!(
        ran.iter().any(|f| f["status"] == "waived"),
        "the waiver applied"
    );

    // The replay: the run's snapshot, the same config, a fresh out dir (so statuses are
    // compared with no earlier run on either side), no broker credentials at all.
    let snapshot = run_dir.join("snapshot").display().to_string();
    let replay = recon_in(
        dir.path(),
        &["check", "--snapshot", &snapshot, "--out", "replay"],
        &[],
    );
    assert_eq!(replay.status.code(), run.status.code(), "{}", text(&replay));
    let replay_dir = latest_run(&dir.path().join("replay"));
    assert_eq!(findings(&replay_dir), ran);

    // The same config and packs, by digest; email went out from the replay too.
    let (a, b) = (summary(&run_dir), summary(&replay_dir));
    assert!(a["config_sha256"].is_string(), "{a}");
    assert_eq!(a["config_sha256"], b["config_sha256"]);
    assert_eq!(a["packs"], b["packs"]);
    assert_eq!(b["packs"].as_array().unwrap().len(), 2);
    assert!(replay_dir.join("outbox").is_dir(), "the replay's email");
    assert!(!run.stdout.is_empty());

    // Without the config, the defaults: a different digest and other findings.
    std::fs::remove_file(dir.path().join("recon.toml")).unwrap();
    let bare = recon_in(
        dir.path(),
        &["check", "--snapshot", &snapshot, "--out", "bare"],
        &[],
    );
    let bare_dir = latest_run(&dir.path().join("bare"));
    assert!(
        summary(&bare_dir)["config_sha256"].is_null(),
        "{}",
        text(&bare)
    );
    assert_ne!(findings(&bare_dir), ran);
}
