//! `recon run` emailing the compliance report over SMTP to a server on 127.0.0.1 that this
//! test runs: a real TCP SMTP dialogue (EHLO, MAIL, RCPT, DATA) with lettre's client.

mod common;

use common::*;
use mailparse::MailHeaderMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the server received: the RCPT TO lines and the message.
type Inbox = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// A minimal SMTP server on 127.0.0.1; with `reject`, every recipient is refused.
async fn smtp_server(reject: bool) -> (u16, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox: Inbox = Arc::default();
    let store = inbox.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 localhost ESMTP recon-test\r\n").await;
                let mut rcpt = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-localhost\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM") || upper == "RSET" || upper == "NOOP" {
                        b"250 OK\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        if reject {
                            b"550 5.1.1 no such mailbox\r\n"
                        } else {
                            rcpt.push(line.clone());
                            b"250 OK\r\n"
                        }
                    } else if upper == "DATA" {
                        let _ = write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(l.strip_prefix('.').unwrap_or(&l));
                            data.push_str("\r\n");
                        }
                        store
                            .lock()
                            .unwrap()
                            .push((std::mem::take(&mut rcpt), data));
                        b"250 2.0.0 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"502 not implemented\r\n"
                    };
                    if write.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, inbox)
}

fn config(sim: &recon_sim::RunningSim, smtp_host: &str, smtp_port: u16) -> String {
    let c = &sim.credentials.tradezero;
    format!(
        "as_of = \"2026-11-20\"\nout_dir = \"out\"\n\n[brokers.tradezero]\nbase_url = \"{}\"\napi_key_id = \"{}\"\napi_secret_key = \"{}\"\n\n[email]\nenabled = true\ntransport = \"smtp\"\nhost = \"{smtp_host}\"\nport = {smtp_port}\nsecurity = \"none\"\nfrom = \"recon@example.com\"\nto = [\"compliance@example.com\"]\n\n[email.routes]\nerror = [\"desk@example.com\"]\n",
        sim.url(recon_model::Broker::Tradezero).unwrap(),
        c.api_key_id,
        c.api_secret_key
    )
}

/// The demo simulator, an SMTP server (refusing every recipient with `reject`), and a
/// folder whose recon.toml fetches from one and emails through the other.
async fn setup(reject: bool) -> (recon_sim::RunningSim, Inbox, tempfile::TempDir) {
    let sim = demo_sim().await;
    let (port, inbox) = smtp_server(reject).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recon.toml"),
        config(&sim, "127.0.0.1", port),
    )
    .unwrap();
    (sim, inbox, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_is_emailed_over_smtp_with_routed_recipients() {
    let (_sim, inbox, dir) = setup(false).await;
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{}", text(&out));
    let (rcpt, data) = &received[0];
    // `to`, plus the route for errors (the demo has error findings).
    assert_eq!(rcpt.len(), 2, "{rcpt:?}");
    assert!(rcpt.iter().any(|r| r.contains("desk@example.com")));
    let mail = mailparse::parse_mail(data.as_bytes()).unwrap();
    assert_eq!(
        mail.headers.get_first_value("Subject").as_deref(),
        Some("[recon] 2026-11-20: 7 errors, 2 warnings across 1 broker")
    );
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

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_delivery_exits_4_and_plain_text_smtp_off_this_machine_is_refused() {
    let (sim, inbox, dir) = setup(true).await;
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(inbox.lock().unwrap().is_empty());
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(latest_run(&dir.path().join("out")).join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["exit_code"], 4);

    // Once a server accepts mail, `recon report send` delivers that finished run.
    let run_dir = latest_run(&dir.path().join("out")).display().to_string();
    let (good_port, good_inbox) = smtp_server(false).await;
    std::fs::write(
        dir.path().join("recon.toml"),
        config(&sim, "127.0.0.1", good_port),
    )
    .unwrap();
    let sent = recon_blocking(dir.path(), &["report", "send", &run_dir], &[]).await;
    assert_eq!(sent.status.code(), Some(0), "{}", text(&sent));
    let received = good_inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let mail = mailparse::parse_mail(received[0].1.as_bytes()).unwrap();
    assert_eq!(
        mail.headers.get_first_value("Subject").as_deref(),
        Some("[recon] 2026-11-20: 7 errors, 2 warnings across 1 broker")
    );

    std::fs::write(
        dir.path().join("recon.toml"),
        config(&sim, "mail.example.com", 25),
    )
    .unwrap();
    let out = recon_blocking(dir.path(), &["run"], &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("plain text"),
        "{}",
        text(&out)
    );
}
