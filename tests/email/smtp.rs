//! An SMTP server on 127.0.0.1 for the email tests: a real TCP dialogue (EHLO, STARTTLS,
//! AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, QUIT) and real TLS (rustls, the test certificate in
//! fixtures/tls/, issued by fixtures/tls/ca.pem for localhost and 127.0.0.1), recording for
//! every message whether it arrived over TLS and who logged in, so tests can assert what
//! the configuration asked for was really used.
//!
//! Hand-written rather than an embeddable server crate: mailin-embedded (the one with
//! STARTTLS and AUTH) pulls rustls with aws-lc-rs, which changes the rustls features reqwest
//! is built with, and polars depends on reqwest: a full polars rebuild.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub rcpt: Vec<String>,
    pub data: String,
    /// Sent over TLS (STARTTLS or implicit).
    pub tls: bool,
    /// The user that logged in, if any.
    pub user: Option<String>,
}

pub type Inbox = Arc<Mutex<Vec<Received>>>;

#[derive(Clone, Default)]
pub struct SmtpOptions {
    /// Offer STARTTLS (and AUTH only once it is done, as real servers do).
    pub starttls: bool,
    /// TLS from the first byte (SMTPS, port 465 style).
    pub implicit_tls: bool,
    /// Require this login before MAIL.
    pub login: Option<(String, String)>,
    /// Refuse every recipient.
    pub reject_rcpt: bool,
}

pub fn tls_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls")
}

fn acceptor() -> TlsAcceptor {
    let dir = tls_dir();
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.join("localhost.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("localhost.key.pem")).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// Starts the server; answers its port and what it receives.
pub async fn smtp_server(options: SmtpOptions) -> (u16, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox: Inbox = Arc::default();
    let store = inbox.clone();
    let tls = acceptor();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (store, options, tls) = (store.clone(), options.clone(), tls.clone());
            tokio::spawn(async move {
                if options.implicit_tls {
                    if let Ok(stream) = tls.accept(socket).await {
                        dialogue(stream, true, true, &options, &store).await;
                    }
                } else if let Some(socket) = dialogue(socket, false, true, &options, &store).await {
                    // STARTTLS: the client speaks first again (EHLO), over TLS.
                    if let Ok(stream) = tls.accept(socket).await {
                        dialogue(stream, true, false, &options, &store).await;
                    }
                }
            });
        }
    });
    (port, inbox)
}

/// One SMTP dialogue on `stream`. Returns the stream when the client asked for STARTTLS.
async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    tls: bool,
    greet: bool,
    options: &SmtpOptions,
    store: &Inbox,
) -> Option<S> {
    let mut io = BufReader::new(stream);
    if greet {
        io.write_all(b"220 localhost ESMTP recon-test\r\n")
            .await
            .ok()?;
    }
    let mut user: Option<String> = None;
    let mut rcpt = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if io.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let auth_offered = options.login.is_some() && (tls || !options.starttls);
        let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let mut caps = vec!["localhost", "8BITMIME"];
            if options.starttls && !tls {
                caps.push("STARTTLS");
            }
            if auth_offered {
                caps.push("AUTH PLAIN LOGIN");
            }
            let n = caps.len();
            caps.iter()
                .enumerate()
                .map(|(i, c)| format!("250{}{c}\r\n", if i + 1 < n { "-" } else { " " }))
                .collect()
        } else if upper == "STARTTLS" && options.starttls && !tls {
            io.write_all(b"220 2.0.0 ready to start TLS\r\n")
                .await
                .ok()?;
            return Some(io.into_inner());
        } else if upper.starts_with("AUTH ") && auth_offered {
            let (want_user, want_password) = options.login.clone().unwrap();
            let mut words = command.split_whitespace().skip(1);
            let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
            let initial = words.next().map(str::to_string);
            let given = match mechanism.as_str() {
                "PLAIN" => {
                    let response = match initial {
                        Some(r) => r,
                        None => ask(&mut io, "").await?,
                    };
                    let decoded = B64.decode(response.trim()).unwrap_or_default();
                    let parts: Vec<String> = decoded
                        .split(|b| *b == 0)
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect();
                    (parts.len() == 3).then(|| (parts[1].clone(), parts[2].clone()))
                }
                "LOGIN" => {
                    let u = match initial {
                        Some(r) => r,
                        None => ask(&mut io, "VXNlcm5hbWU6").await?,
                    };
                    let p = ask(&mut io, "UGFzc3dvcmQ6").await?;
                    let text = |s: &str| {
                        String::from_utf8_lossy(&B64.decode(s.trim()).unwrap_or_default())
                            .into_owned()
                    };
                    Some((text(&u), text(&p)))
                }
                _ => None,
            };
            match given {
                Some((u, p)) if u == want_user && p == want_password => {
                    user = Some(u);
                    "235 2.7.0 authentication successful\r\n".into()
                }
                _ => "535 5.7.8 authentication credentials invalid\r\n".into(),
            }
        } else if upper.starts_with("MAIL FROM") {
            if options.login.is_some() && user.is_none() {
                "530 5.7.0 authentication required\r\n".into()
            } else {
                "250 OK\r\n".into()
            }
        } else if upper == "RSET" || upper == "NOOP" {
            "250 OK\r\n".into()
        } else if upper.starts_with("RCPT TO") {
            if options.reject_rcpt {
                "550 5.1.1 no such mailbox\r\n".into()
            } else {
                rcpt.push(command.clone());
                "250 OK\r\n".into()
            }
        } else if upper == "DATA" {
            io.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await.ok()?;
            let mut data = String::new();
            loop {
                line.clear();
                if io.read_line(&mut line).await.ok()? == 0 {
                    return None;
                }
                let l = line.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(l));
                data.push_str("\r\n");
            }
            store.lock().unwrap().push(Received {
                rcpt: std::mem::take(&mut rcpt),
                data,
                tls,
                user: user.clone(),
            });
            "250 2.0.0 queued\r\n".into()
        } else if upper == "QUIT" {
            let _ = io.write_all(b"221 bye\r\n").await;
            return None;
        } else {
            "502 5.5.1 not implemented\r\n".into()
        };
        io.write_all(reply.as_bytes()).await.ok()?;
    }
}

/// A `334` challenge and the client's answer line.
async fn ask<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    challenge: &str,
) -> Option<String> {
    io.write_all(format!("334 {challenge}\r\n").as_bytes())
        .await
        .ok()?;
    let mut answer = String::new();
    io.read_line(&mut answer).await.ok()?;
    Some(answer.trim_end().to_string())
}
