//! End to end through the real binary: the demo (simulator → HTTP fetch → snapshot →
//! normalize → rules → findings → exit code) and `recon check` on what it wrote.

mod common;

use common::*;
use mailparse::MailHeaderMap;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn recon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recon"))
        .args(args)
        .env_remove("RECON_LOG")
        .output()
        .expect("recon runs")
}

type Key = (String, String, String, Option<String>, String, String);

fn key(v: &Value) -> Key {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (
        s("rule"),
        s("broker"),
        s("account"),
        v["position"].as_str().map(str::to_string),
        s("status"),
        s("severity"),
    )
}

fn findings(run: &Path) -> BTreeSet<Key> {
    let text = std::fs::read_to_string(run.join("findings.jsonl")).unwrap();
    let keys: Vec<Key> = text
        .lines()
        .map(|l| key(&serde_json::from_str(l).unwrap()))
        .collect();
    let set: BTreeSet<Key> = keys.iter().cloned().collect();
    assert_eq!(set.len(), keys.len(), "duplicate findings: {keys:?}");
    set
}

fn expected() -> BTreeSet<Key> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/expected.json");
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["findings"].as_array().unwrap().iter().map(key).collect()
}

#[test]
fn the_demo_finds_exactly_its_planted_breaks_and_exits_1() {
    let out = tempfile::tempdir().unwrap();
    let run = recon(&["demo", "--out", out.path().to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let dir = latest_run(out.path());
    let got = findings(&dir);
    assert_eq!(got, expected(), "{}", text(&run));
    // The near miss (off by 4.99, tolerance 5.00) and the clean account are not findings.
    assert!(
        !got.iter()
            .any(|k| k.2 == "TZ10000003" || k.2 == "TZ10000001")
    );

    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["complete"], true);
    for stage in ["fetch", "normalize", "views", "books", "rules"] {
        assert!(summary["timings_ms"][stage].is_u64(), "no {stage} timing");
    }
    let book = recon_sim::SimBook::demo();
    let book_accounts = book.accounts.len();
    let closed = book
        .accounts
        .iter()
        .filter(|a| a.status == recon_model::AccountStatus::Closed)
        .count();
    assert_eq!(summary["accounts_checked"], book_accounts);
    let identity = summary["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "account-value-identity")
        .unwrap();
    // Every account but the closed ones.
    assert_eq!(identity["in_scope"], book_accounts - closed);
    let planted = |status: &str| {
        expected()
            .iter()
            .filter(|k| k.0 == "account-value-identity" && k.4 == status)
            .count()
    };
    assert_eq!(identity["failed"], planted("new"));
    assert_eq!(identity["unknown"], planted("unknown"));
    assert_eq!(
        identity["passed"],
        book_accounts - closed - planted("new") - planted("unknown")
    );
    // Every output file is there; JUnit fails exactly the rules with findings.
    for file in ["findings.csv", "findings.parquet", "junit.xml", "report.md"] {
        assert!(dir.join(file).is_file(), "no {file}");
    }
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let failing_rules: BTreeSet<String> = expected().into_iter().map(|k| k.0).collect();
    let failures = format!("failures=\"{}\"", failing_rules.len());
    let core =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/core.toml"))
            .unwrap();
    let tests = format!("tests=\"{}\"", core.matches("[[rule]]").count());
    assert!(
        junit.contains(&tests) && junit.contains(&failures),
        "{junit}"
    );
    // The simulator's random credentials (`tzk-…`, `tzs-…`, `csk-…`, tastytrade's `ttc-…`
    // and `ttr-…` and the access tokens `tta-…` it issued, E*TRADE's four `et…-`,
    // Architect's key pair and the JWTs `arch-…`) reach no file the demo wrote.
    for file in all_files(out.path()) {
        let body = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            ![
                "tzk-", "tzs-", "csk-", "ttc-", "ttr-", "tta-", "etck-", "etcs-", "etat-", "etas-"
            ]
            .iter()
            .any(|p| body.contains(p)),
            "{} holds a credential",
            file.display()
        );
    }
    // The summary table names the planted break, and the last lines say where the HTML
    // report and the summary are.
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("TZ10000002") && stdout.contains("exit 1"),
        "{stdout}"
    );
    let html = dir.join("report.html");
    assert!(
        stdout.contains(&format!("report: {}", html.display())) && html.is_file(),
        "{stdout}"
    );

    // `recon check` on the snapshot the demo fetched finds the same, offline, under a
    // config naming the same book of record.
    let snapshot = dir.join("snapshot");
    assert!(snapshot.join("manifest.json").is_file());
    let out2 = tempfile::tempdir().unwrap();
    let book = out.path().join("demo-book-of-record");
    let config = out2.path().join("recon.toml");
    std::fs::write(
        &config,
        format!(
            "[books.demo]\npositions = \"{}\"\ncash = \"{}\"\n",
            book.join("book.csv").display(),
            book.join("book-cash.csv").display()
        ),
    )
    .unwrap();
    let checked = check(
        &snapshot,
        out2.path(),
        &["--json", "--config", config.to_str().unwrap()],
    );
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked));
    assert_eq!(findings(&latest_run(out2.path())), expected());
    let printed: Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(printed["counts"]["total"], expected().len());
}

#[test]
fn a_rerun_marks_findings_ongoing() {
    let out = tempfile::tempdir().unwrap();
    let first = recon(&["demo", "--out", out.path().to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let second = recon(&["demo", "--out", out.path().to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    let dir = latest_run(out.path());
    let lines: Vec<Value> = std::fs::read_to_string(dir.join("findings.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = expected();
    assert_eq!(lines.len(), expected.len());
    for l in &lines {
        // Failures seen before are ongoing; undecidable checks stay unknown.
        let (rule, broker, account, position, status, severity) = key(l);
        let first = (rule, broker, account, position, "new".to_string(), severity);
        let want = if status == "unknown" {
            "unknown"
        } else {
            "ongoing"
        };
        assert_eq!(l["status"], want, "{l}");
        assert!(
            expected.contains(&first) || status == "unknown",
            "{l} was not planted"
        );
        assert_eq!(l["age_days"], 0);
    }
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary["previous_run"].is_string());
    assert_eq!(summary["resolved"].as_array().unwrap().len(), 0);
}

#[test]
fn fail_on_sets_the_severity_that_fails_the_run() {
    let out = tempfile::tempdir().unwrap();
    // The demo plants two critical findings (margin calls): --fail-on critical still fails.
    let run = recon(&[
        "demo",
        "--out",
        out.path().to_str().unwrap(),
        "--fail-on",
        "critical",
        "--timings",
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    // --timings: stage times and peak memory on stderr, and in summary.json.
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("timings: fetch") && stderr.contains("peak memory"),
        "{stderr}"
    );
    let dir = latest_run(out.path());
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary["peak_rss_kib"].as_u64().unwrap() > 0);

    // With both margin calls waived, only errors and warnings are left: below critical.
    let waivers = out.path().join("waivers.toml");
    std::fs::write(&waivers, "[[waiver]]\nrule = \"margin-excess-negative\"\nbroker = \"clearstreet\"\naccount = \"19817\"\nreason = \"call met by a wire in flight\"\nowner = \"ops@example.com\"\nexpires = \"2026-12-31\"\n\n[[waiver]]\nrule = \"margin-requirement-above-value\"\nbroker = \"architect\"\naccount = \"3c9d1e2f-8a7b-4c6d-9e0f-1a2b3c4d5e6f\"\nreason = \"desk topping up\"\nowner = \"ops@example.com\"\nexpires = \"2026-12-31\"\n").unwrap();
    let out2 = tempfile::tempdir().unwrap();
    let snapshot = dir.join("snapshot");
    let args = [
        "--waivers",
        waivers.to_str().unwrap(),
        "--fail-on",
        "critical",
    ];
    let run = check(&snapshot, out2.path(), &args);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let run = check(&snapshot, out2.path(), &args[..2]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
}

#[test]
fn usage_errors_exit_3() {
    let run = recon(&["check"]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    let run = recon(&["--fail-on", "fatal", "demo"]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(String::from_utf8_lossy(&run.stderr).contains("fatal"));
    let missing = recon(&["check", "--snapshot", "/nonexistent/snapshot"]);
    assert_eq!(missing.status.code(), Some(3), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/snapshot"));
    let help = recon(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes"));
}

/// `recon check --snapshot SNAPSHOT --out OUT` plus `extra` arguments.
fn check(snapshot: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "check",
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    recon(&args)
}

/// A snapshot folder holding the demo's fetch, to corrupt in tests.
fn demo_snapshot(out: &Path) -> PathBuf {
    let run = recon(&["demo", "--out", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    latest_run(out).join("snapshot")
}

#[test]
fn a_pack_with_an_unknown_column_exits_3_naming_file_rule_and_column() {
    let out = tempfile::tempdir().unwrap();
    let snapshot = demo_snapshot(out.path());
    let pack = out.path().join("bad.toml");
    std::fs::write(
        &pack,
        "[pack]\nid = \"bad\"\nversion = \"1\"\n[[rule]]\nid = \"cash-positive\"\ntitle = \"t\"\nseverity = \"error\"\non = \"account_view\"\ncheck = \"csh >= 0\"\nmessage = \"m\"\n",
    )
    .unwrap();
    let run = check(&snapshot, out.path(), &["--pack", pack.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    for want in ["bad.toml", "cash-positive", "`csh`", "`cash`"] {
        assert!(stderr.contains(want), "{want} missing from: {stderr}");
    }
}

#[test]
fn a_fetch_error_in_the_manifest_exits_2_with_a_finding() {
    let out = tempfile::tempdir().unwrap();
    let snapshot = demo_snapshot(out.path());
    let path = snapshot.join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["brokers"]["tradezero"]["status"] = "partial".into();
    manifest["brokers"]["tradezero"]["errors"] = serde_json::json!([
        {"account": "TZ10000002", "endpoint": "positions", "error": "HTTP 500"}
    ]);
    std::fs::remove_file(snapshot.join("tradezero/TZ10000002/positions.json")).unwrap();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let out2 = tempfile::tempdir().unwrap();
    let run = check(&snapshot, out2.path(), &[]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    let got = findings(&latest_run(out2.path()));
    assert!(
        got.iter()
            .any(|k| k.0 == "fetch-incomplete" && k.2 == "TZ10000002"),
        "{got:?}"
    );
    // Without its positions the account cannot be checked: unknown, not a failure.
    assert!(
        got.iter()
            .any(|k| k.0 == "account-value-identity" && k.2 == "TZ10000002" && k.4 == "unknown"),
        "{got:?}"
    );
}

/// `recon check` of `snapshot` with a bug while reading E*TRADE's bytes (a failpoint) and
/// `extra` options: the run's folder, once it exits 2.
fn check_with_etrade_failing(snapshot: &Path, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "check",
        "--snapshot",
        snapshot.to_str().unwrap(),
        "--out",
        ".",
    ];
    args.extend(extra);
    let run = recon_in(out.path(), &args, &[("RECON_FAILPOINTS", "parse.etrade")]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    let dir = latest_run(out.path());
    (out, dir)
}

#[test]
fn a_panic_reading_one_broker_is_contained_and_the_others_are_checked() {
    let out = tempfile::tempdir().unwrap();
    let snapshot = demo_snapshot(out.path());
    let (_out, dir) = check_with_etrade_failing(&snapshot, &[]);
    assert!(dir.join("report.html").is_file(), "the report is written");
    let got = findings(&dir);
    assert!(
        got.iter()
            .any(|k| k.0 == "fetch-incomplete" && k.1 == "etrade"),
        "{got:?}"
    );
    // The other brokers were checked as usual.
    for broker in ["tradezero", "tastytrade", "clearstreet", "architect"] {
        assert!(
            got.iter()
                .any(|k| k.1 == broker && k.0 != "fetch-incomplete"),
            "{broker} not checked: {got:?}"
        );
    }
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let why = summary["incomplete"].to_string();
    assert!(why.contains("reading etrade's snapshot failed"), "{why}");
    // Read in chunks of three accounts, the broker fails in every chunk that holds its
    // accounts: the run still says so once.
    let (_out, chunked) = check_with_etrade_failing(&snapshot, &["--chunk-accounts", "3"]);
    assert_eq!(findings(&chunked), got);
}

#[test]
fn an_unreadable_manifest_exits_2_naming_the_file() {
    let out = tempfile::tempdir().unwrap();
    let snapshot = demo_snapshot(out.path());
    std::fs::write(snapshot.join("manifest.json"), "{\"format\": 1, ").unwrap();
    let run = check(&snapshot, out.path(), &[]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    assert!(String::from_utf8_lossy(&run.stderr).contains("manifest.json"));
}

#[test]
fn sim_announces_its_urls_and_credentials_and_writes_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().join("e.json");
    let run = recon(&[
        "sim",
        "--seed",
        "7",
        "--accounts",
        "50",
        "--break-rate",
        "0.2",
        "--expected",
        expected.to_str().unwrap(),
        "--book-of-record",
        dir.path().join("bor").to_str().unwrap(),
        "--max-seconds",
        "0",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    // The book of record of the generated book, with its own ground truth.
    for file in [
        "positions.csv",
        "positions.parquet",
        "cash.csv",
        "expected.json",
    ] {
        assert!(dir.path().join("bor").join(file).is_file(), "{file}");
    }
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("bor/expected.json")).unwrap())
            .unwrap();
    assert!(
        record["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "book-sign-break"),
        "{record}"
    );
    let line: Value =
        serde_json::from_str(String::from_utf8_lossy(&run.stdout).lines().next().unwrap()).unwrap();
    assert!(
        line["tradezero"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(line["credentials"]["tradezero"]["api_key_id"].is_string());
    let truth: Value = serde_json::from_slice(&std::fs::read(&expected).unwrap()).unwrap();
    assert_eq!(truth["seed"], 7);
    assert!(!truth["findings"].as_array().unwrap().is_empty());
    let bad = recon(&[
        "sim",
        "--seed",
        "7",
        "--break-rate",
        "0.9",
        "--max-seconds",
        "0",
    ]);
    assert_eq!(bad.status.code(), Some(3), "{}", text(&bad));
}

#[test]
fn rules_test_reports_a_case_that_does_not_hold() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core");
    std::fs::create_dir_all(&core).unwrap();
    // Off by 5.00 is inside the tolerance: expecting a finding here must fail.
    std::fs::write(
        core.join("wrong.toml"),
        "description = \"a wrong expectation\"\nas_of = \"2026-11-20\"\n[[account]]\naccount_id = \"A\"\n[[balance]]\naccount_id = \"A\"\ncash = \"1000\"\nnet_liq = \"1005.00\"\n[[expect]]\nrule = \"account-value-identity\"\naccount = \"A\"\n",
    )
    .unwrap();
    let run = recon(&["rules", "test", "--cases", dir.path().to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("FAIL")
            && stdout.contains("missing")
            && stdout.contains("0 passed, 1 failed"),
        "{stdout}"
    );

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/tests");
    let run = recon(&["rules", "test", "--cases", shipped.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let run = recon(&["rules", "validate"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
}

#[test]
fn json_logs_are_one_json_object_a_line() {
    let out = tempfile::tempdir().unwrap();
    let run = recon(&[
        "demo",
        "-v",
        "--log-format",
        "json",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    // -v shows the per-broker fetch line, with its fields.
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "fetched" && l["fields"]["broker"] == "tradezero"),
        "{stderr}"
    );
}

#[test]
fn waived_findings_are_reported_but_do_not_fail_and_expired_waivers_are_findings() {
    let out = tempfile::tempdir().unwrap();
    let snapshot = demo_snapshot(out.path());
    let mut waivers = String::new();
    for (rule, account) in [
        ("account-value-identity", "TZ10000002"),
        ("account-value-identity", "TZ10000005"),
        ("account-value-identity", "TZP20000004"),
        ("option-expiring", "TZ10000002"),
        ("option-expired", "TZP20000004"),
        ("pnl-coverage", "TZ10000005"),
        ("pnl-orphan", "TZ10000005"),
        ("margin-excess-negative", "19817"),
        ("account-value-identity", "19818"),
        ("account-value-identity", "5WT00003"),
        ("option-expiring", "5WT00002"),
        ("data-quarantine", "5WT00001"),
        ("account-value-identity", "vQMsebA1H5WltUfDkJP4yA"),
        ("option-expired", "vQMsebA1H5WltUfDkJP4yA"),
        (
            "margin-requirement-above-value",
            "3c9d1e2f-8a7b-4c6d-9e0f-1a2b3c4d5e6f",
        ),
    ] {
        let broker = if account.starts_with("TZ") {
            "tradezero"
        } else if account.starts_with("5WT") {
            "tastytrade"
        } else if account.starts_with("vQM") {
            "etrade"
        } else if account.starts_with("3c9d") {
            "architect"
        } else {
            "clearstreet"
        };
        waivers.push_str(&format!(
            "[[waiver]]\nrule = \"{rule}\"\nbroker = \"{broker}\"\naccount = \"{account}\"\nreason = \"known, being fixed\"\nowner = \"ops@example.com\"\nexpires = \"2026-12-31\"\n\n"
        ));
    }
    waivers.push_str("[[waiver]]\nrule = \"margin-excess-low\"\nbroker = \"tradezero\"\naccount = \"TZ10000001\"\nreason = \"old\"\nowner = \"ops@example.com\"\nexpires = \"2026-11-01\"\n");
    let file = out.path().join("waivers.toml");
    std::fs::write(&file, waivers).unwrap();
    let out2 = tempfile::tempdir().unwrap();
    let run = check(
        &snapshot,
        out2.path(),
        &["--waivers", file.to_str().unwrap()],
    );
    // Only warnings are left: exit 0 at the default fail_on = error.
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let lines: Vec<Value> = std::fs::read_to_string(latest_run(out2.path()).join("findings.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let waived = lines.iter().filter(|l| l["status"] == "waived").count();
    assert_eq!(waived, 15);
    let expired: Vec<&Value> = lines
        .iter()
        .filter(|l| l["rule"] == "waiver-expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["account"], "TZ10000001");

    // A waiver naming a rule no pack has is a usage error, named.
    std::fs::write(&file, "[[waiver]]\nrule = \"pnl-coverag\"\nbroker = \"tradezero\"\naccount = \"A\"\nreason = \"r\"\nowner = \"o\"\nexpires = \"2026-12-31\"\n").unwrap();
    let run = check(
        &snapshot,
        out2.path(),
        &["--waivers", file.to_str().unwrap()],
    );
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert!(String::from_utf8_lossy(&run.stderr).contains("did you mean `pnl-coverage`"));
}

#[test]
fn the_demo_writes_the_compliance_email_to_the_outbox_with_accounts_masked() {
    let out = tempfile::tempdir().unwrap();
    let run = recon(&["demo", "--out", out.path().to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let outbox = latest_run(out.path()).join("outbox");
    let emails: Vec<PathBuf> = all_files(&outbox)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let raw = std::fs::read(&emails[0]).unwrap();
    let mail = mailparse::parse_mail(&raw).unwrap();
    assert_eq!(
        mail.headers.get_first_value("Subject").as_deref(),
        Some("[recon] 2026-11-20: 3 critical, 18 errors, 6 warnings across 5 brokers")
    );
    // The demo's margin call is critical: the critical route adds the CRO.
    let to = mail.headers.get_first_value("To").unwrap();
    assert!(
        to.contains("compliance@example.com") && to.contains("cro@"),
        "{to}"
    );

    // Every part, decoded: text, HTML and the attachment.
    fn parts<'a>(m: &'a mailparse::ParsedMail<'a>, out: &mut Vec<&'a mailparse::ParsedMail<'a>>) {
        out.push(m);
        for s in &m.subparts {
            parts(s, out);
        }
    }
    let mut all = Vec::new();
    parts(&mail, &mut all);
    let text = all
        .iter()
        .find(|p| p.ctype.mimetype == "text/plain")
        .unwrap()
        .get_body()
        .unwrap();
    let html = all
        .iter()
        .find(|p| p.ctype.mimetype == "text/html")
        .unwrap()
        .get_body()
        .unwrap();
    let csv = all.iter().find(|p| p.ctype.mimetype == "text/csv").unwrap();
    assert!(
        text.contains("TZ****0002") && html.contains("TZ****0002"),
        "{text}"
    );
    assert!(
        !text.contains("TZ10000002") && !html.contains("TZ10000002"),
        "{text}"
    );
    // The breaks against the demo's book of record are counted in both parts.
    assert!(
        text.contains("Against the book of record: 8 breaks")
            && html.contains("8 breaks against the book of record"),
        "{text}"
    );
    // The attachment lists every finding, and no part of the email — bodies or attachment —
    // carries a whole account number of any broker (a quarantine message names the file,
    // whose path names the account: masked too).
    let attached = String::from_utf8(csv.get_body_raw().unwrap()).unwrap();
    let findings = std::fs::read_to_string(latest_run(out.path()).join("findings.jsonl")).unwrap();
    assert_eq!(attached.lines().count(), findings.lines().count() + 1);
    for account in recon_sim::SimBook::demo().accounts {
        for (part, body) in [("text", &text), ("html", &html), ("csv", &attached)] {
            assert!(
                !body.contains(&account.id),
                "{} appears whole in the email's {part}",
                account.id
            );
        }
    }
}

#[test]
fn a_failed_delivery_exits_4_with_the_report_on_disk() {
    use recon::pipeline::{CheckOptions, builtin_packs, check_snapshot};
    use recon_report::email::EmailSettings;
    let out = tempfile::tempdir().unwrap();
    let snapshot = demo_snapshot(out.path());
    let out2 = tempfile::tempdir().unwrap();
    let result = check_snapshot(&CheckOptions {
        snapshot,
        out_dir: out2.path().to_path_buf(),
        run_dir: None,
        run_id: "r-delivery".into(),
        as_of: None,
        fail_on: recon_rules::Severity::Error,
        packs: builtin_packs().unwrap(),
        earlier_timings: Vec::new(),
        waivers: Vec::new(),
        overrides: Default::default(),
        config_sha256: None,
        books: Vec::new(),
        chunking: Default::default(),
        progress: false,
        engine: Default::default(),
        email: Some(EmailSettings {
            delivery: recon_report::email::Delivery::File,
            from: "recon@localhost".into(),
            to: vec!["not an address".into()],
            routes: Default::default(),
            attach: true,
            mask_accounts: true,
            always: true,
            resend: false,
        }),
    })
    .unwrap();
    assert_eq!(result.exit, recon::ExitStatus::DeliveryFailed);
    let dir = latest_run(out2.path());
    for file in ["findings.jsonl", "report.html", "summary.json"] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let summary: Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["exit_code"], 4);
}
