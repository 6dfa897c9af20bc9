//! `recon run` emailing the compliance report over SMTP to a server on 127.0.0.1 that this
//! test runs (`email/smtp.rs`): a real TCP SMTP dialogue with lettre's client, in plain text
//! to loopback, with STARTTLS, with implicit TLS, with and without a login.

mod common;
#[path = "email/smtp.rs"]
mod smtp;

use common::*;
use mailparse::MailHeaderMap;
use smtp::{Inbox, SmtpOptions, smtp_server, tls_dir};

/// A recon.toml fetching the demo's TradeZero accounts from `sim` and emailing through
/// 127.0.0.1:`port` with `security`; `extra` lines go into `[email]`.
fn config(
    sim: &recon_sim::RunningSim,
    host: &str,
    port: u16,
    security: &str,
    extra: &str,
) -> String {
    let c = &recon_sim::tradezero::Credentials::from_sim(&sim.credentials);
    format!(
        "as_of = \"2026-11-20\"\nout_dir = \"out\"\n\n[brokers.tradezero]\nbase_url = \"{}\"\napi_key_id = \"{}\"\napi_secret_key = \"{}\"\n\n[email]\nenabled = true\ntransport = \"smtp\"\nhost = \"{host}\"\nport = {port}\nsecurity = \"{security}\"\nfrom = \"recon@example.com\"\nto = [\"compliance@example.com\"]\n{extra}\n[email.routes]\nerror = [\"desk@example.com\"]\n",
        sim.url(recon_model::Broker::Tradezero).unwrap(),
        c.api_key_id,
        c.api_secret_key
    )
}

/// `[email]` lines for a login and the test CA.
fn login_and_ca() -> String {
    format!(
        "username = \"recon\"\nca_file = \"{}\"\n",
        tls_dir().join("ca.pem").display()
    )
}

const PASSWORD: &str = "s3cret smtp pass";

/// The demo simulator, an SMTP server with `options`, and a folder whose recon.toml
/// fetches from one and emails through the other with `security` and `extra`.
async fn setup(
    options: SmtpOptions,
    security: &str,
    extra: &str,
) -> (recon_sim::RunningSim, Inbox, tempfile::TempDir) {
    let sim = demo_sim().await;
    let (port, inbox) = smtp_server(options).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recon.toml"),
        config(&sim, "127.0.0.1", port, security, extra),
    )
    .unwrap();
    (sim, inbox, dir)
}

fn with_login() -> SmtpOptions {
    SmtpOptions {
        login: Some(("recon".into(), PASSWORD.into())),
        ..Default::default()
    }
}

const SUBJECT: &str = "[recon] 2026-11-20: 7 errors, 2 warnings across 1 broker";

/// The decoded text, HTML and attached CSV of a message.
fn parts(data: &str) -> (String, String, String, String) {
    fn walk<'a>(m: &'a mailparse::ParsedMail<'a>, out: &mut Vec<&'a mailparse::ParsedMail<'a>>) {
        out.push(m);
        for s in &m.subparts {
            walk(s, out);
        }
    }
    let mail = mailparse::parse_mail(data.as_bytes()).unwrap();
    let subject = mail.headers.get_first_value("Subject").unwrap_or_default();
    let mut all = Vec::new();
    walk(&mail, &mut all);
    let body = |mime: &str| {
        all.iter()
            .find(|p| p.ctype.mimetype == mime)
            .unwrap_or_else(|| panic!("no {mime} part"))
            .get_body_raw()
            .map(|b| String::from_utf8(b).unwrap())
            .unwrap()
    };
    let csv = all.iter().find(|p| p.ctype.mimetype == "text/csv").unwrap();
    let disposition = csv.get_content_disposition();
    assert_eq!(
        disposition.params.get("filename").map(String::as_str),
        Some("findings.csv")
    );
    (
        subject,
        body("text/plain"),
        body("text/html"),
        body("text/csv"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_is_emailed_over_smtp_with_routed_recipients() {
    let (_sim, inbox, dir) = setup(SmtpOptions::default(), "none", "").await;
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{}", text(&out));
    let mail = &received[0];
    // `to`, plus the route for errors (the demo has error findings).
    assert_eq!(mail.rcpt.len(), 2, "{:?}", mail.rcpt);
    assert!(
        mail.rcpt
            .iter()
            .any(|r| r.contains("<compliance@example.com>"))
    );
    assert!(mail.rcpt.iter().any(|r| r.contains("<desk@example.com>")));
    assert!(!mail.tls && mail.user.is_none());
    let (subject, plain, html, csv) = parts(&mail.data);
    assert_eq!(subject, SUBJECT);
    // Both bodies and the attachment, account numbers masked everywhere.
    assert!(
        plain.contains("TZ****0002") && html.contains("TZ****0002"),
        "{plain}"
    );
    let findings =
        std::fs::read_to_string(latest_run(&dir.path().join("out")).join("findings.jsonl"))
            .unwrap();
    assert_eq!(csv.lines().count(), findings.lines().count() + 1);
    for account in recon_sim::SimBook::demo().accounts {
        for (part, body) in [("text", &plain), ("html", &html), ("csv", &csv)] {
            assert!(
                !body.contains(&account.id),
                "{} whole in the {part}",
                account.id
            );
        }
    }
    // Sent, so nothing in the outbox; the report is on disk.
    let run_dir = latest_run(&dir.path().join("out"));
    assert!(!run_dir.join("outbox").exists());
    assert!(run_dir.join("report.html").is_file());

    // The same day again: the findings are ongoing, and nobody is emailed twice.
    let again = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert_eq!(inbox.lock().unwrap().len(), 1);
    // Unless asked to.
    let resent = recon_blocking(dir.path(), &["run", "--resend"], &[]).await;
    assert_eq!(resent.status.code(), Some(1), "{}", text(&resent));
    assert_eq!(inbox.lock().unwrap().len(), 2);
}

/// summary.json of a run folder.
fn summary_of(run_dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_is_the_runs_and_keys_deliveries_by_what_was_sent() {
    let (_sim, inbox, dir) = setup(SmtpOptions::default(), "none", "").await;
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(inbox.lock().unwrap().len(), 1);
    let run_dir = latest_run(&dir.path().join("out"));
    let ledger = dir.path().join("out/email-ledger.jsonl");
    assert_eq!(
        std::fs::read_to_string(&ledger).unwrap().lines().count(),
        2,
        "attempt + sent"
    );
    let sent = summary_of(&run_dir);
    assert_eq!(
        sent["email"]["sent_to"].as_array().unwrap().len(),
        2,
        "{sent}"
    );

    // `report send` from another folder, naming the config: the run's own ledger is read
    // (nothing sent twice) and nothing is written where the command ran.
    let elsewhere = tempfile::tempdir().unwrap();
    let config = dir.path().join("recon.toml").display().to_string();
    let run_arg = run_dir.display().to_string();
    let again = recon_blocking(
        elsewhere.path(),
        &["report", "send", &run_arg, "--config", &config],
        &[],
    )
    .await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to send"));
    assert_eq!(inbox.lock().unwrap().len(), 1, "sent twice");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

    // A crash between the server's acceptance and the record: only the attempt line is
    // left. The next try does not guess: "possibly sent before", nothing sent, said in the
    // output and the summary.
    let text_before = std::fs::read_to_string(&ledger).unwrap();
    let attempt_only: String = text_before.lines().next().unwrap().to_string() + "\n";
    std::fs::write(&ledger, &attempt_only).unwrap();
    let unsure = recon_blocking(dir.path(), &["report", "send", &run_arg], &[]).await;
    assert_eq!(unsure.status.code(), Some(0), "{}", text(&unsure));
    assert!(
        String::from_utf8_lossy(&unsure.stdout).contains("possibly sent before"),
        "{}",
        text(&unsure)
    );
    assert_eq!(inbox.lock().unwrap().len(), 1);
    let summary = summary_of(&run_dir);
    assert_eq!(
        summary["email"]["possibly_sent_before"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{summary}"
    );

    // A damaged ledger is an error naming it, never an empty one (everyone mailed again).
    std::fs::write(&ledger, attempt_only.replace("\"attempt\"", "\"sent\"")).unwrap();
    let damaged = recon_blocking(dir.path(), &["report", "send", &run_arg], &[]).await;
    assert_eq!(damaged.status.code(), Some(4), "{}", text(&damaged));
    assert!(
        String::from_utf8_lossy(&damaged.stderr).contains("email-ledger.jsonl line 1"),
        "{}",
        text(&damaged)
    );
    assert_eq!(inbox.lock().unwrap().len(), 1);

    // A later run the same day with different findings is mailed; the ledger is restored
    // first (the damaged one would stop it).
    std::fs::write(&ledger, &text_before).unwrap();
    let mut cfg = std::fs::read_to_string(dir.path().join("recon.toml")).unwrap();
    cfg.push_str("\n[rules.params]\nvalue_tol_abs = \"100000.00\"\n");
    std::fs::write(dir.path().join("recon.toml"), cfg).unwrap();
    let changed = recon_blocking(dir.path(), &["run"], &[]).await;
    assert!(
        matches!(changed.status.code(), Some(0 | 1)),
        "{}",
        text(&changed)
    );
    assert_eq!(
        inbox.lock().unwrap().len(),
        2,
        "different findings, a new email"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_and_the_login_are_used_when_configured() {
    let options = SmtpOptions {
        starttls: true,
        ..with_login()
    };
    let (_sim, inbox, dir) = setup(options, "starttls", &login_and_ca()).await;
    let out = recon_blocking(dir.path(), &["run"], &[("RECON_EMAIL__PASSWORD", PASSWORD)]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{}", text(&out));
    // The server only offers AUTH after STARTTLS and refuses MAIL before a login: both
    // happened, and the message itself travelled over TLS.
    assert!(received[0].tls, "not sent over TLS");
    assert_eq!(received[0].user.as_deref(), Some("recon"));
    assert_eq!(received[0].rcpt.len(), 2);
    let (subject, plain, html, _) = parts(&received[0].data);
    assert_eq!(subject, SUBJECT);
    assert!(plain.contains("TZ****0002") && html.contains("TZ****0002"));
    // The password is nowhere: not in the output, the log or any file of the run.
    assert!(!text(&out).contains(PASSWORD));
    for file in all_files(&dir.path().join("out")) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PASSWORD),
            "{} holds the SMTP password",
            file.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_tls_sends_over_tls_from_the_first_byte() {
    let options = SmtpOptions {
        implicit_tls: true,
        ..with_login()
    };
    let (_sim, inbox, dir) = setup(options, "tls", &login_and_ca()).await;
    let out = recon_blocking(dir.path(), &["run"], &[("RECON_EMAIL__PASSWORD", PASSWORD)]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{}", text(&out));
    assert!(received[0].tls);
    assert_eq!(received[0].user.as_deref(), Some("recon"));
}

/// A failed delivery: exit 4, the report on disk, the message kept in the outbox, nothing
/// recorded as sent.
fn assert_kept(dir: &std::path::Path, out: &std::process::Output) -> std::path::PathBuf {
    assert_eq!(out.status.code(), Some(4), "{}", text(out));
    let run_dir = latest_run(&dir.join("out"));
    assert!(run_dir.join("report.html").is_file());
    let kept: Vec<_> = all_files(&run_dir.join("outbox"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(kept.len(), 1, "{}", text(out));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["exit_code"], 4);
    run_dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_login_exits_4_keeps_the_message_and_report_send_delivers_it_later() {
    let options = SmtpOptions {
        starttls: true,
        ..with_login()
    };
    let (_sim, inbox, dir) = setup(options, "starttls", &login_and_ca()).await;
    let out = recon_blocking(dir.path(), &["run"], &[("RECON_EMAIL__PASSWORD", "wrong")]).await;
    let run_dir = assert_kept(dir.path(), &out);
    assert!(inbox.lock().unwrap().is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("535"), "{stderr}");
    assert!(
        !stderr.contains("wrong"),
        "the password is printed: {stderr}"
    );

    // With the right password, `recon report send` delivers that finished run, once.
    let run_dir = run_dir.display().to_string();
    let env = [("RECON_EMAIL__PASSWORD", PASSWORD)];
    let sent = recon_blocking(dir.path(), &["report", "send", &run_dir], &env).await;
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent));
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert!(received[0].tls && received[0].user.as_deref() == Some("recon"));
    assert_eq!(parts(&received[0].data).0, SUBJECT);
    // The message kept by the failed attempt is gone now that it was delivered.
    assert!(!std::path::Path::new(&run_dir).join("outbox").exists());
    // A cron job retrying does not send it twice; `--resend` does.
    let again = recon_blocking(dir.path(), &["report", "send", &run_dir], &env).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to send"));
    assert_eq!(inbox.lock().unwrap().len(), 1, "sent twice");
    let forced = recon_blocking(dir.path(), &["report", "send", "--resend", &run_dir], &env).await;
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert_eq!(inbox.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smtp_server_that_is_down_exits_4_with_the_message_kept() {
    // A port that was just free: nothing listens on it.
    let port = common::free_port();
    let sim = demo_sim().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recon.toml"),
        config(&sim, "127.0.0.1", port, "none", ""),
    )
    .unwrap();
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_kept(dir.path(), &out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("127.0.0.1:{port}")),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_is_never_skipped_an_unknown_certificate_or_no_starttls_fails_the_delivery() {
    // A certificate from a CA recon was not told to trust.
    let options = SmtpOptions {
        starttls: true,
        ..Default::default()
    };
    let (_sim, inbox, dir) = setup(options, "starttls", "").await;
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_kept(dir.path(), &out);
    assert!(inbox.lock().unwrap().is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate"),
        "{}",
        text(&out)
    );

    // A server that does not offer STARTTLS gets nothing in plain text.
    let (_sim, inbox, dir) = setup(SmtpOptions::default(), "starttls", &login_and_ca()).await;
    let out = recon_blocking(dir.path(), &["run"], &[("RECON_EMAIL__PASSWORD", PASSWORD)]).await;
    assert_kept(dir.path(), &out);
    assert!(inbox.lock().unwrap().is_empty(), "sent without TLS");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_recipient_exits_4_and_bad_email_config_is_refused_before_the_run() {
    let options = SmtpOptions {
        reject_rcpt: true,
        ..Default::default()
    };
    let (sim, inbox, dir) = setup(options, "none", "").await;
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_kept(dir.path(), &out);
    assert!(inbox.lock().unwrap().is_empty());

    // Plain text to a server off this machine.
    std::fs::write(
        dir.path().join("recon.toml"),
        config(&sim, "mail.example.com", 25, "none", ""),
    )
    .unwrap();
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("plain text"),
        "{}",
        text(&out)
    );

    // A CA file that is not there, or holds no certificate: named before anything runs.
    for (file, why) in [
        ("missing.pem", "cannot read"),
        ("recon.toml", "no PEM certificate"),
    ] {
        std::fs::write(
            dir.path().join("recon.toml"),
            config(
                &sim,
                "127.0.0.1",
                25,
                "starttls",
                &format!("ca_file = \"{file}\"\n"),
            ),
        )
        .unwrap();
        let out = recon_blocking(dir.path(), &["run"], &[]).await;
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("email.ca_file {file}: {why}")),
            "{stderr}"
        );
    }
}
