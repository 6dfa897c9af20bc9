//! What reads a run's files, run for real: `junit.xml` validated against the JUnit schema
//! CI servers read (fixtures/junit/junit.xsd, with the JDK's own validator, the one Jenkins'
//! JUnit plugins use), and `report.html` loaded in headless Chromium (Debian's `chromium`):
//! no console error, the table drawn, a screenshot taken, and a 50,000-finding page that
//! still loads and pages.
//!
//! `.ci/run` installs both, and under CI a missing one fails the test. On a machine without
//! them (and `CI` unset) each test prints one `!!! NOT CHECKED` line naming the package that
//! enables it, and passes: `cargo test --workspace` needs no root.

mod common;

use common::*;
use recon_rules::Finding;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One demo run shared by the tests of this file: its run folder.
fn demo_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, dir) = RUN.get_or_init(|| {
        let out = tempfile::tempdir().unwrap();
        let run = recon_in(out.path(), &["demo", "--out", "."], &[]);
        assert_eq!(run.status.code(), Some(1), "{}", text(&run));
        let dir = latest_run(out.path());
        (out, dir)
    });
    dir
}

/// The demo run's summary.json.
fn demo_summary() -> recon_report::Summary {
    serde_json::from_slice(&std::fs::read(demo_run().join("summary.json")).unwrap()).unwrap()
}

/// The demo run's findings.
fn demo_findings() -> Vec<Finding> {
    std::fs::read_to_string(demo_run().join("findings.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `java` (a JDK 11+ runs a single-file source program) for the JUnit schema check.
fn have_java() -> bool {
    outside_tool(
        "java",
        "-version",
        "default-jdk-headless",
        "junit.xml against the JUnit schema",
    )
}

/// Validates `xml` against the JUnit schema; the validator's complaint on failure.
fn validate_junit(xml: &Path) -> Result<(), String> {
    let out = Command::new("java")
        .arg(fixtures().join("junit/ValidateXsd.java"))
        .arg(fixtures().join("junit/junit.xsd"))
        .arg(xml)
        .output()
        .expect("`java` (a JDK 11+) runs: it validates junit.xml against the XSD");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn junit_xml_validates_against_the_junit_schema() {
    if !have_java() {
        return;
    }
    let junit = demo_run().join("junit.xml");
    validate_junit(&junit).unwrap();
    let text = std::fs::read_to_string(&junit).unwrap();
    // One suite for the core pack, one case per rule; the demo's failures are there.
    assert!(
        text.contains(r#"<testsuite name="recon.core" tests="10" failures="9" errors="0""#),
        "{text}"
    );

    // A rule that could not be evaluated (an <error>), more findings than a failure lists,
    // and a message carrying control characters from a broker's bytes: still valid.
    let mut summary = demo_summary();
    summary.rules[0].error = Some("column `nav` not found <&>".into());
    let findings = demo_findings();
    let failing = findings
        .iter()
        .find(|f| f.rule == summary.rules[1].rule)
        .unwrap();
    let mut many = Vec::new();
    for i in 0..500 {
        let mut f = failing.clone();
        f.message = format!("record {i}: bytes \u{0}\u{1}\u{1b} and ]]> & <tag>");
        many.push(f);
    }
    let xml = recon_report::render::junit(&summary, &many).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &xml).unwrap();
    validate_junit(file.path()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    assert!(xml.contains(r#"<testsuite name="recon.core" tests="10" failures="1" errors="1""#));
    assert!(xml.contains("… and "));

    // The validator does reject what the schema forbids (what quick-junit used to write).
    let bad = xml.replacen("<testsuites ", "<testsuites skipped=\"0\" ", 1);
    std::fs::write(file.path(), bad).unwrap();
    let complaint = validate_junit(file.path()).unwrap_err();
    assert!(complaint.contains("skipped"), "{complaint}");
}

/// Loads `page` in headless Chromium. Answers the console messages, and the DOM after the
/// page's scripts ran (`--dump-dom`) or the screenshot's path.
fn chromium(page: &Path, screenshot: Option<&Path>) -> (Vec<String>, String) {
    chromium_at(page, screenshot, 1280)
}

/// As [`chromium`], in a window `width` pixels wide.
fn chromium_at(page: &Path, screenshot: Option<&Path>, width: u32) -> (Vec<String>, String) {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--window-size={width},2400"))
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(png) => cmd.arg(format!("--screenshot={}", png.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("`chromium` (Debian's package) runs headless");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (console, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_report_loads_in_headless_chromium_without_console_errors() {
    if !have_chromium("report.html in a browser") {
        return;
    }
    let page = demo_run().join("report.html");
    let (console, dom) = chromium(&page, None);
    assert!(console.is_empty(), "console: {console:#?}");
    // The script ran: the findings table is drawn from the embedded JSON, grouped by account.
    assert!(dom.contains("page 1 of 1 · 27 findings"), "{dom}");
    assert!(dom.contains("class=\"account-row\""));
    assert!(dom.contains("margin-excess-negative"));
    // The breaks against the demo's book of record, per account.
    assert!(
        dom.contains("Breaks against the book of record (4 accounts)"),
        "{dom}"
    );

    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-demo.png");
    let _ = std::fs::remove_file(&png);
    let (console, _) = chromium(&page, Some(&png));
    assert!(console.is_empty(), "console: {console:#?}");
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
    eprintln!("screenshot: {}", png.display());

    // The check can fail: a page whose script throws is caught.
    let broken = tempfile::Builder::new().suffix(".html").tempfile().unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    std::fs::write(
        broken.path(),
        html.replacen("\"use strict\";", "\"use strict\"; nope();", 1),
    )
    .unwrap();
    let (console, _) = chromium(broken.path(), None);
    assert!(
        console.iter().any(|l| l.contains("nope is not defined")),
        "{console:#?}"
    );
}

#[test]
fn a_report_of_50000_findings_loads_and_pages() {
    if !have_chromium("a 50,000-finding report.html in a browser") {
        return;
    }
    let summary = demo_summary();
    let findings = demo_findings();
    let many: Vec<Finding> = (0..50_000)
        .map(|i| {
            let mut f = findings[i % findings.len()].clone();
            f.account = Some(format!("ACCT{:05}", i / 10));
            f
        })
        .collect();
    let html = recon_report::html::render(&summary, &many).unwrap();
    let page = tempfile::Builder::new().suffix(".html").tempfile().unwrap();
    std::fs::write(page.path(), &html).unwrap();
    let (console, dom) = chromium(page.path(), None);
    assert!(console.is_empty(), "console: {console:#?}");
    assert!(dom.contains("page 1 of 500 · 50000 findings"), "not paged");
    // One page of rows is in the document, not 50,000.
    let rows = dom.matches("<tr").count();
    assert!(rows < 400, "{rows} rows in the DOM");
}

/// A page that shows `html` in a frame `width` pixels wide (headless Chromium's window is
/// at least 500 px, so a phone's 375 px viewport is a frame) and, once it loaded, writes
/// the frame's scroll width, its viewport width and how many finding rows it has into the
/// page. The probe is the test's: the email itself carries no script.
fn framed(html: &str, width: u32) -> String {
    let srcdoc = html.replace('&', "&amp;").replace('"', "&quot;");
    format!(
        r#"<!doctype html><html><body style="margin:0">
<iframe id="mail" style="width:{width}px;height:2300px;border:0" srcdoc="{srcdoc}"></iframe>
<script>
document.getElementById("mail").addEventListener("load", function () {{
  var doc = this.contentDocument;
  var probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = "PROBE " + JSON.stringify({{
    scroll: doc.documentElement.scrollWidth, inner: this.contentWindow.innerWidth,
    rows: doc.querySelectorAll("tr.finding").length
  }}) + " END";
  document.body.appendChild(probe);
}});
</script></body></html>"#
    )
}

#[test]
fn the_email_reads_on_a_phone_and_on_a_desktop() {
    if !have_chromium("the email's HTML at 600 and 375 px") {
        return;
    }
    let summary = demo_summary();
    let findings = demo_findings();
    // 300 findings with ids and messages as long as real ones get (UUIDs, file paths).
    let many: Vec<Finding> = (0..300)
        .map(|i| {
            let mut f = findings[i % findings.len()].clone();
            f.account = Some(format!("0b7e6c2a-5f4d-4e3a-9c1b-7a2d8e9f{i:04}"));
            f.message = format!(
                "{} (architect/0b7e6c2a-5f4d-4e3a-9c1b-7a2d8e9f{i:04}/summary.json/positions/ES~1USD/0)",
                f.message
            );
            f
        })
        .collect();
    let settings = recon_report::email::EmailSettings {
        delivery: recon_report::email::Delivery::File,
        from: "recon@example.com".into(),
        to: vec!["ops@example.com".into()],
        routes: Default::default(),
        attach: true,
        mask_accounts: true,
        always: true,
        resend: false,
    };
    let report = demo_run().join("report.html");
    let (text, html) = recon_report::email::bodies(&settings, &summary, &many, &report);
    assert!(!html.contains("<script"), "no script in an email");
    assert!(
        !html.contains("<img") && !html.contains("src=\"http"),
        "no external image"
    );
    assert!(html.contains("style=\""), "inline styles");
    for part in [&text, &html] {
        assert!(part.contains("findings"), "the verdict");
        assert!(
            part.contains("By severity") && part.contains("By broker"),
            "the counts"
        );
        assert!(part.contains("275 more"), "the rest counted");
        assert!(part.contains("report.html"), "where the report is");
    }
    assert!(text.contains(&report.display().to_string()), "{text}");
    for width in [600, 375] {
        let page = tempfile::Builder::new().suffix(".html").tempfile().unwrap();
        std::fs::write(page.path(), framed(&html, width)).unwrap();
        let (console, dom) = chromium_at(page.path(), None, 800);
        assert!(console.is_empty(), "console: {console:#?}");
        let json = dom
            .split("<pre id=\"probe\">PROBE ")
            .nth(1)
            .and_then(|r| r.split(" END").next())
            .unwrap_or_else(|| panic!("no probe in the DOM: {dom}"));
        let probe: serde_json::Value = serde_json::from_str(json).unwrap();
        assert!(
            probe["scroll"].as_u64() <= probe["inner"].as_u64(),
            "horizontal overflow at {width} px: {probe}"
        );
        assert_eq!(probe["inner"], width, "{probe}");
        assert_eq!(probe["rows"], 25, "at most 25 finding rows: {probe}");
        let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("email-{width}.png"));
        let _ = std::fs::remove_file(&png);
        let (console, _) = chromium_at(page.path(), Some(&png), 800);
        assert!(console.is_empty(), "console: {console:#?}");
        assert!(
            std::fs::metadata(&png)
                .map(|m| m.len() > 10_000)
                .unwrap_or(false)
        );
        eprintln!("screenshot: {}", png.display());
    }
}

#[test]
fn the_report_charts_have_legends_and_their_numbers_in_tables() {
    if !have_chromium("report.html's chart legends") {
        return;
    }
    let (console, dom) = chromium(&demo_run().join("report.html"), None);
    assert!(console.is_empty(), "console: {console:#?}");
    for id in [
        "legend-brokers",
        "legend-accounts",
        "data-brokers",
        "data-accounts",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(dom.contains("net liq (as the broker reports it)"));
    assert!(dom.contains("cash + positions (as recon adds them up)"));
    for severity in ["critical", "error", "warning", "info"] {
        assert!(
            dom.contains(&format!("</span>{severity}</li>")),
            "no legend for {severity}"
        );
    }
}
