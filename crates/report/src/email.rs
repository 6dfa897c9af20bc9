//! The compliance email: a subject that carries the counts
//! (`[recon] 2026-11-20: 2 critical, 5 errors, 12 warnings across 5 brokers`), a plain-text
//! body with an HTML alternative (verdict, what was incomplete, the worst findings),
//! `findings.csv` attached, account numbers masked unless configured otherwise, and
//! recipients routed by severity. Written as `.eml` files into the run's `outbox/` (lettre's
//! file transport).

use crate::summary::Summary;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, FileTransport, Message, Tokio1Executor, Transport,
};
use recon_rules::{Finding, FindingStatus, Severity};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How many findings the email lists; the rest are in the attachment and the report.
pub const LISTED: usize = 25;

/// How the message leaves.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// An `.eml` file in the run's `outbox/`.
    File,
    Smtp(SmtpSettings),
}

/// How the SMTP connection is protected; in config `starttls`, `tls` or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    StartTls,
    Tls,
    /// Plain text: only to a server on this machine (checked when config loads).
    None,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// PEM certificates to trust besides the system's roots (a relay behind an internal CA).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub delivery: Delivery,
    pub from: String,
    pub to: Vec<String>,
    /// Extra recipients when a finding of that severity is present.
    pub routes: BTreeMap<Severity, Vec<String>>,
    pub attach: bool,
    pub mask_accounts: bool,
    /// Send only when there are findings (or the run is incomplete), or always.
    pub always: bool,
    /// Send even to recipients the ledger says already have this business date's email.
    pub resend: bool,
}

/// `TZ****0002`: the first two and last four characters stay, so people can still tell
/// accounts apart.
/// `text` with every occurrence of `account` masked (a quarantine message names the file,
/// and the file's path names the account).
pub fn masked_text(text: &str, account: Option<&str>) -> String {
    mask_all(text, &account.into_iter().collect())
}

/// The findings as the attached CSV, accounts masked in every column that can hold one:
/// the report's `findings.csv` (same columns, same spreadsheet-safe cells, written by
/// polars' CSV writer) of masked copies of the findings, every cell quoted.
pub fn masked_csv(findings: &[Finding], run_id: &str, as_of: &str) -> Result<Vec<u8>, String> {
    let masked: Vec<Finding> = findings
        .iter()
        .map(|f| {
            let account = f.account.as_deref();
            Finding {
                account: account.map(mask),
                message: masked_text(&f.message, account),
                evidence: f
                    .evidence
                    .iter()
                    .map(|(k, v)| (k.clone(), masked_text(v, account)))
                    .collect(),
                ..f.clone()
            }
        })
        .collect();
    let mut frame = crate::render::csv_frame(&masked, run_id, as_of).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    use polars::prelude::SerWriter;
    polars::prelude::CsvWriter::new(&mut out)
        .include_header(true)
        .with_quote_style(polars::prelude::QuoteStyle::Always)
        .finish(&mut frame)
        .map_err(|e| format!("cannot write the attachment: {e}"))?;
    Ok(out)
}

/// `text` with every one of `accounts` masked, longest first (so an id that contains
/// another is masked whole).
pub fn mask_all(text: &str, accounts: &BTreeSet<&str>) -> String {
    let mut ids: Vec<&str> = accounts.iter().copied().filter(|a| a.len() >= 3).collect();
    ids.sort_by_key(|a| std::cmp::Reverse(a.len()));
    let mut out = text.to_string();
    for id in ids {
        if out.contains(id) {
            out = out.replace(id, &mask(id));
        }
    }
    out
}

pub fn mask(account: &str) -> String {
    let chars: Vec<char> = account.chars().collect();
    let n = chars.len();
    let (head, tail) = if n > 6 { (2, 4) } else { (0, n.min(2)) };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { *c } else { '*' })
        .collect()
}

fn live(findings: &[Finding]) -> impl Iterator<Item = &Finding> {
    findings
        .iter()
        .filter(|f| f.status != FindingStatus::Waived)
}

/// `[recon] 2026-11-20: 2 critical, 5 errors, 12 warnings across 5 brokers`.
pub fn subject(summary: &Summary, findings: &[Finding]) -> String {
    let mut parts = Vec::new();
    if !summary.complete {
        parts.push("INCOMPLETE".to_string());
    }
    for s in Severity::ALL.iter().rev() {
        let n = live(findings).filter(|f| f.severity == *s).count();
        if n > 0 && *s != Severity::Info {
            let word = match (s, n) {
                (Severity::Critical, _) => "critical".to_string(),
                (_, 1) => s.as_str().to_string(),
                _ => format!("{}s", s.as_str()),
            };
            parts.push(format!("{n} {word}"));
        }
    }
    if parts.is_empty() {
        parts.push("clean".into());
    }
    let brokers = summary.brokers.len();
    format!(
        "[recon] {}: {} across {brokers} broker{}",
        summary.as_of,
        parts.join(", "),
        if brokers == 1 { "" } else { "s" }
    )
}

/// `to`, plus each route whose severity has a finding.
pub fn recipients(settings: &EmailSettings, findings: &[Finding]) -> Vec<String> {
    let present: BTreeSet<Severity> = live(findings).map(|f| f.severity).collect();
    let mut out: BTreeSet<String> = settings.to.iter().cloned().collect();
    for (severity, to) in &settings.routes {
        if present.contains(severity) {
            out.extend(to.iter().cloned());
        }
    }
    out.into_iter().collect()
}

const HTML_TEMPLATE: &str = include_str!("email.html.j2");
const TEXT_TEMPLATE: &str = include_str!("email.txt.j2");

/// What an exit code means, in the words the email's header uses.
fn exit_meaning(code: i32) -> &'static str {
    match code {
        0 => "clean: everything checked, nothing at or above the failing severity",
        1 => "findings at or above the failing severity",
        2 => "incomplete: some broker or account could not be fetched or read",
        3 => "usage or configuration error: nothing ran",
        4 => "the report was written but its delivery failed",
        _ => "see summary.json",
    }
}

fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#8e24aa",
        Severity::Error => "#c62828",
        Severity::Warning => "#b26a00",
        Severity::Info => "#1565c0",
    }
}

#[derive(serde::Serialize)]
struct Count {
    name: String,
    count: usize,
    color: &'static str,
}

#[derive(serde::Serialize)]
struct Line {
    severity: &'static str,
    color: &'static str,
    title: String,
    message: String,
}

#[derive(serde::Serialize)]
struct Group {
    broker: String,
    account: String,
    findings: Vec<Line>,
}

#[derive(serde::Serialize)]
struct Incomplete {
    broker: String,
    account: String,
    reason: String,
}

/// Account numbers as the email shows them: masked when configured, in the account
/// columns and in any text (a reason or message can name files, and file paths name
/// accounts — any account's, not only the item's own, so every account the run knows is
/// masked in them).
struct Masking<'a> {
    on: bool,
    known: BTreeSet<&'a str>,
}

impl<'a> Masking<'a> {
    fn new(settings: &EmailSettings, summary: &'a Summary, findings: &'a [Finding]) -> Self {
        let known = summary
            .incomplete
            .iter()
            .filter_map(|i| i.account.as_deref())
            .chain(findings.iter().filter_map(|f| f.account.as_deref()))
            .chain(summary.accounts.iter().map(|a| a.account.as_str()))
            .collect();
        Masking {
            on: settings.mask_accounts,
            known,
        }
    }

    fn account(&self, a: &str) -> String {
        if self.on { mask(a) } else { a.to_string() }
    }

    fn text(&self, text: &str) -> String {
        if self.on {
            mask_all(text, &self.known)
        } else {
            text.to_string()
        }
    }
}

/// The findings the email lists, grouped by broker and account in the order given.
fn listed_groups(
    listed: &[&Finding],
    titles: &BTreeMap<&str, &str>,
    masking: &Masking,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for f in listed {
        let broker = f.broker.clone().unwrap_or_else(|| "-".into());
        let account = f
            .account
            .as_deref()
            .map_or("(all accounts)".into(), |a| masking.account(a));
        let line = Line {
            severity: f.severity.as_str(),
            color: severity_color(f.severity),
            title: titles
                .get(f.rule.as_str())
                .map_or_else(|| f.rule.clone(), |t| format!("{t} ({})", f.rule)),
            message: masking.text(&f.message),
        };
        match groups
            .iter_mut()
            .find(|g| g.broker == broker && g.account == account)
        {
            Some(g) => g.findings.push(line),
            None => groups.push(Group {
                broker,
                account,
                findings: vec![line],
            }),
        }
    }
    groups
}

/// Live findings counted by severity (worst first, only those present) and by broker.
fn counts(findings: &[Finding]) -> (Vec<Count>, Vec<Count>) {
    let by_severity: Vec<Count> = Severity::ALL
        .iter()
        .rev()
        .map(|s| Count {
            name: s.as_str().to_string(),
            count: live(findings).filter(|f| f.severity == *s).count(),
            color: severity_color(*s),
        })
        .filter(|c| c.count > 0)
        .collect();
    let mut brokers: BTreeMap<String, usize> = BTreeMap::new();
    for f in live(findings) {
        *brokers
            .entry(f.broker.clone().unwrap_or_else(|| "-".into()))
            .or_default() += 1;
    }
    let by_broker: Vec<Count> = brokers
        .into_iter()
        .map(|(name, count)| Count {
            name,
            count,
            color: "#1d2433",
        })
        .collect();
    (by_severity, by_broker)
}

/// The text and HTML bodies, from one context and two templates (`email.txt.j2`,
/// `email.html.j2`), so the two parts say the same.
pub fn bodies(
    settings: &EmailSettings,
    summary: &Summary,
    findings: &[Finding],
    report: &Path,
) -> (String, String) {
    let masking = Masking::new(settings, summary, findings);
    let titles: BTreeMap<&str, &str> = summary
        .rules
        .iter()
        .filter(|r| !r.title.is_empty())
        .map(|r| (r.rule.as_str(), r.title.as_str()))
        .collect();

    let mut worst: Vec<&Finding> = live(findings).collect();
    worst.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.broker.cmp(&b.broker))
            .then_with(|| a.account.cmp(&b.account))
            .then_with(|| a.rule.cmp(&b.rule))
    });
    let listed = worst.len().min(LISTED);
    let groups = listed_groups(&worst[..listed], &titles, &masking);
    let (by_severity, by_broker) = counts(findings);
    let incomplete: Vec<Incomplete> = summary
        .incomplete
        .iter()
        .map(|i| Incomplete {
            broker: i.broker.clone(),
            account: i
                .account
                .as_deref()
                .map_or("(all accounts)".into(), |a| masking.account(a)),
            reason: masking.text(&i.reason),
        })
        .collect();
    let (verdict, verdict_color) = match summary.exit_code {
        0 => ("clean", "#2e7d32"),
        1 => ("findings", "#c62828"),
        2 => ("INCOMPLETE", "#6a1b9a"),
        4 => ("delivery failed", "#c62828"),
        _ => ("see summary.json", "#455a64"),
    };
    let ctx = minijinja::context! {
        subject => subject(summary, findings),
        as_of => summary.as_of.to_string(),
        verdict => verdict,
        verdict_color => verdict_color,
        exit_code => summary.exit_code,
        exit_meaning => exit_meaning(summary.exit_code),
        accounts => summary.accounts_checked,
        positions => summary.positions_checked,
        incomplete => minijinja::Value::from(minijinja::value::Serde(&incomplete)),
        by_severity => minijinja::Value::from(minijinja::value::Serde(&by_severity)),
        by_broker => minijinja::Value::from(minijinja::value::Serde(&by_broker)),
        groups => minijinja::Value::from(minijinja::value::Serde(&groups)),
        listed => listed,
        more => worst.len() - listed,
        report => report.display().to_string(),
        book_breaks => live(findings).filter(|f| f.pack == "books").count(),
    };
    let render = |name: &str, source: &'static str, auto_escape: bool| {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(move |_| {
            if auto_escape {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        env.add_template(name, source)
            .and_then(|()| env.get_template(name)?.render(&ctx))
            // The templates are ours and compiled in: a failure here is a bug, said in the
            // body rather than losing the email.
            .unwrap_or_else(|e| {
                format!(
                    "recon could not render the email body ({e}); see {}",
                    report.display()
                )
            })
    };
    (
        render("email.txt", TEXT_TEMPLATE, false),
        render("email.html", HTML_TEMPLATE, true),
    )
}

/// Whether this run has anything to email: always with `only_when = "always"`, else when
/// it has live findings or is incomplete.
pub fn has_news(settings: &EmailSettings, summary: &Summary, findings: &[Finding]) -> bool {
    settings.always || !summary.complete || live(findings).next().is_some()
}

/// The digest of what an email says (the business date, every live finding's rule,
/// severity, place and message, and what was incomplete), in a stable order. The ledger
/// keys deliveries by it: an identical re-run mails nobody, a run with different findings
/// the same day is mailed again. Statuses (new, ongoing) are left out: they change from
/// one run to the next without the content changing.
pub fn digest(summary: &Summary, findings: &[Finding]) -> String {
    use sha2::Digest;
    let mut lines: Vec<String> = live(findings)
        .map(|f| {
            format!(
                "finding\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                f.rule,
                f.severity,
                f.broker.as_deref().unwrap_or(""),
                f.account.as_deref().unwrap_or(""),
                f.position.as_deref().unwrap_or(""),
                f.symbol.as_deref().unwrap_or(""),
                f.message
            )
        })
        .chain(summary.incomplete.iter().map(|i| {
            format!(
                "incomplete\t{}\t{}\t{}",
                i.broker,
                i.account.as_deref().unwrap_or(""),
                i.reason
            )
        }))
        .collect();
    lines.sort();
    let mut hasher = sha2::Sha256::new();
    hasher.update(summary.as_of.to_string().as_bytes());
    for line in &lines {
        hasher.update(b"\n");
        hasher.update(line.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Builds the message to `to`.
pub fn build(
    settings: &EmailSettings,
    summary: &Summary,
    findings: &[Finding],
    run_dir: &Path,
    to: &[String],
    csv: Option<Vec<u8>>,
) -> Result<Message, String> {
    if to.is_empty() {
        return Err("email: no recipient (set email.to)".into());
    }
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| format!("email.from `{}`: {e}", settings.from))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(subject(summary, findings));
    for r in to {
        let mailbox: Mailbox = r
            .parse()
            .map_err(|e| format!("email recipient `{r}`: {e}"))?;
        builder = builder.to(mailbox);
    }
    let (text, html) = bodies(settings, summary, findings, &run_dir.join("report.html"));
    let alternative = MultiPart::alternative_plain_html(text, html);
    // The report's own findings.csv carries whole account numbers: masked, a copy is made.
    let csv = match csv {
        Some(_) if settings.mask_accounts => Some(masked_csv(
            findings,
            &summary.run_id,
            &summary.as_of.to_string(),
        )?),
        other => other,
    };
    let body = match csv.filter(|_| settings.attach) {
        Some(bytes) => MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new("findings.csv".into()).body(
                bytes,
                ContentType::parse("text/csv").map_err(|e| e.to_string())?,
            ),
        ),
        None => MultiPart::mixed().multipart(alternative),
    };
    builder.multipart(body).map_err(|e| format!("email: {e}"))
}

/// `<out_dir>/email-ledger.jsonl`: every delivery, recorded durably before anyone is told
/// anything. An `attempt` line is written (and fsynced) before the message leaves, and a
/// `sent` or `failed` line after; each line carries the sha256 of its entry, so a damaged
/// ledger is noticed rather than read as "nobody has it". A recipient whose last line for
/// an email is an `attempt` may have received it (the process died between the server's
/// acceptance and the record): that is reported as "possibly sent before", never guessed.
pub mod ledger {
    use chrono::{DateTime, NaiveDate, Utc};
    use serde::{Deserialize, Serialize};
    use sha2::Digest;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    pub const FILE: &str = "email-ledger.jsonl";

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum State {
        /// About to hand the message to the transport.
        Attempt,
        /// The transport accepted it.
        Sent,
        /// The transport refused it or could not be reached: safe to try again.
        Failed,
    }

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Entry {
        pub as_of: NaiveDate,
        /// [`super::digest`] of what was sent.
        pub digest: String,
        pub run_id: String,
        pub recipients: Vec<String>,
        pub state: State,
        pub at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub error: Option<String>,
    }

    /// A line as stored: the entry and the sha256 of its JSON.
    #[derive(Serialize, Deserialize)]
    struct Line {
        entry: Entry,
        sha256: String,
    }

    /// A line of the ledger before digests (one per delivery, by business date): still
    /// read, as deliveries of an email no digest matches.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Legacy {
        as_of: NaiveDate,
        run_id: String,
        recipients: Vec<String>,
        sent_at: DateTime<Utc>,
    }

    /// Where a recipient stands for one email.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Standing {
        NotSent,
        Sent,
        /// An attempt with no outcome recorded.
        PossiblySent,
    }

    #[derive(Debug)]
    pub struct Ledger {
        path: PathBuf,
        entries: Vec<Entry>,
    }

    fn sha(entry: &Entry) -> Result<String, String> {
        let json = serde_json::to_vec(entry).map_err(|e| e.to_string())?;
        Ok(hex::encode(sha2::Sha256::digest(&json)))
    }

    impl Ledger {
        /// Reads the ledger of `out_dir` (none yet: empty). A line that cannot be read, or
        /// whose checksum does not match, is an error: everyone would otherwise be mailed
        /// again. Only a last line cut short without its newline (the process died while
        /// appending it) is skipped, with a warning: it can only be a record whose
        /// message had not left yet, or an outcome whose attempt line still stands.
        pub fn open(out_dir: &Path) -> Result<Ledger, String> {
            let path = out_dir.join(FILE);
            let text = match std::fs::read(&path) {
                Ok(bytes) => String::from_utf8(bytes)
                    .map_err(|_| format!("{}: not UTF-8 text: fix or move it", path.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            };
            let complete = text.ends_with('\n') || text.is_empty();
            let lines: Vec<&str> = text.lines().collect();
            let mut entries = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let torn_tail = !complete && i + 1 == lines.len();
                match read_line(line) {
                    Ok(entry) => entries.push(entry),
                    Err(_) if torn_tail => {
                        tracing::warn!(ledger = %path.display(), "the ledger's last line was cut short (a run died while writing it); skipped");
                    }
                    Err(e) => {
                        return Err(format!(
                            "{} line {}: {e}: the ledger says who has which email, so recon will not guess; fix or move the file",
                            path.display(),
                            i + 1
                        ));
                    }
                }
            }
            Ok(Ledger { path, entries })
        }

        /// Where `recipient` stands for the email of `as_of` with `digest`.
        pub fn standing(&self, as_of: NaiveDate, digest: &str, recipient: &str) -> Standing {
            self.entries
                .iter()
                .filter(|e| e.as_of == as_of && e.digest == digest)
                .rfind(|e| e.recipients.iter().any(|r| r == recipient))
                .map_or(Standing::NotSent, |e| match e.state {
                    State::Attempt => Standing::PossiblySent,
                    State::Sent => Standing::Sent,
                    State::Failed => Standing::NotSent,
                })
        }

        /// Appends an entry and flushes it to disk before answering.
        pub fn record(
            &mut self,
            as_of: NaiveDate,
            digest: &str,
            run_id: &str,
            recipients: &[String],
            state: State,
            error: Option<String>,
        ) -> Result<(), String> {
            let entry = Entry {
                as_of,
                digest: digest.to_string(),
                run_id: run_id.to_string(),
                recipients: recipients.to_vec(),
                state,
                at: Utc::now(),
                error,
            };
            let line = Line {
                sha256: sha(&entry)?,
                entry: entry.clone(),
            };
            let mut bytes = serde_json::to_vec(&line).map_err(|e| e.to_string())?;
            bytes.push(b'\n');
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let created = !self.path.exists();
            options
                .open(&self.path)
                .and_then(|mut f| {
                    f.write_all(&bytes)?;
                    f.sync_all()
                })
                .and_then(|()| match (created, self.path.parent()) {
                    (true, Some(dir)) => recon_model::files::sync_dir(dir),
                    _ => Ok(()),
                })
                .map_err(|e| {
                    format!("cannot record the delivery in {}: {e}", self.path.display())
                })?;
            self.entries.push(entry);
            Ok(())
        }
    }

    fn read_line(line: &str) -> Result<Entry, String> {
        if let Ok(l) = serde_json::from_str::<Line>(line) {
            return if sha(&l.entry)? == l.sha256 {
                Ok(l.entry)
            } else {
                Err("checksum mismatch: the line was changed or damaged".into())
            };
        }
        match serde_json::from_str::<Legacy>(line) {
            Ok(l) => Ok(Entry {
                as_of: l.as_of,
                digest: String::new(),
                run_id: l.run_id,
                recipients: l.recipients,
                state: State::Sent,
                at: l.sent_at,
                error: None,
            }),
            Err(e) => Err(format!("not a ledger line: {e}")),
        }
    }
}

/// The certificates of a PEM file (`email.ca_file`), or why it cannot be used.
pub fn read_ca(path: &Path) -> Result<Certificate, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("email.ca_file {}: cannot read: {e}", path.display()))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "email.ca_file {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            path.display()
        ));
    }
    Certificate::from_pem(&pem).map_err(|e| format!("email.ca_file {}: {e}", path.display()))
}

/// Sends the message over SMTP.
pub fn send_smtp(message: &Message, smtp: &SmtpSettings) -> Result<(), String> {
    let server = format!("{}:{} ({:?})", smtp.host, smtp.port, smtp.security);
    // The system's roots, plus `ca_file`'s; the certificate must name `host`.
    let tls = || -> Result<TlsParameters, String> {
        let mut params = TlsParameters::builder(smtp.host.clone());
        if let Some(path) = &smtp.ca_file {
            params = params.add_root_certificate(read_ca(path)?);
        }
        params.build().map_err(|e| format!("SMTP {server}: {e}"))
    };
    let plain = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str());
    let builder = match smtp.security {
        Security::None => plain,
        // STARTTLS is required, never opportunistic: a server that does not offer it fails
        // the delivery rather than receiving the report in plain text.
        Security::StartTls => plain.tls(Tls::Required(tls()?)),
        Security::Tls => plain.tls(Tls::Wrapper(tls()?)),
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(30)));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_string(),
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // lettre's connection pool spawns a task when the transport is built and needs the
    // runtime when it is dropped: both happen inside it.
    runtime
        .block_on(async {
            let transport: AsyncSmtpTransport<Tokio1Executor> = builder.build();
            transport.send(message.clone()).await.map(|_| ())
        })
        .map_err(|e| format!("SMTP {server}: {e}"))
}

/// Writes the message as an `.eml` file into `outbox` (created owner-only).
pub fn write_to_outbox(message: &Message, outbox: &Path) -> Result<PathBuf, String> {
    recon_model::files::create_private_dir(outbox)
        .map_err(|e| format!("cannot create {}: {e}", outbox.display()))?;
    let id = FileTransport::new(outbox)
        .send(message)
        .map_err(|e| format!("cannot write the email into {}: {e}", outbox.display()))?;
    Ok(outbox.join(format!("{id}.eml")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding_for(account: &str) -> Finding {
        Finding {
            rule: "data-quarantine".into(),
            pack: "core".into(),
            severity: Severity::Error,
            status: FindingStatus::New,
            broker: Some("tastytrade".into()),
            account: Some(account.into()),
            position: None,
            symbol: None,
            message: String::new(),
            evidence: Default::default(),
            first_seen: None,
        }
    }

    #[test]
    fn the_attachment_and_messages_carry_no_whole_account_number() {
        let mut f = finding_for("5WT00001");
        f.message =
            "tastytrade/5WT00001/positions.json/data/items/3: direction unknown, \"quoted\"".into();
        f.evidence
            .insert("source".into(), "tastytrade/5WT00001/positions.json".into());
        let csv = String::from_utf8(masked_csv(&[f], "r1", "2026-11-20").unwrap()).unwrap();
        assert!(!csv.contains("5WT00001"), "{csv}");
        assert!(csv.contains("5W**0001"), "{csv}");
        assert!(csv.contains("\"\"quoted\"\""), "{csv}");
        assert_eq!(masked_text("no account here", None), "no account here");
    }

    #[test]
    fn attachment_cells_never_start_a_spreadsheet_formula() {
        let mut f = finding_for("5WT00001");
        f.message = "=HYPERLINK(\"http://x\",\"y\")".into();
        f.symbol = Some("@SUM(A1)".into());
        f.position = Some("-1+2".into());
        let csv = String::from_utf8(masked_csv(&[f], "r1", "2026-11-20").unwrap()).unwrap();
        let row = csv.lines().nth(1).unwrap();
        assert!(row.contains("\"'=HYPERLINK("), "{row}");
        assert!(row.contains("\"'@SUM(A1)\""), "{row}");
        assert!(row.contains("\"'-1+2\""), "{row}");
        assert!(!row.contains(",\"=") && !row.contains(",\"@"), "{row}");
    }

    fn settings(mask_accounts: bool) -> EmailSettings {
        EmailSettings {
            delivery: Delivery::File,
            from: "recon@localhost".into(),
            to: vec!["desk@example.com".into()],
            routes: BTreeMap::new(),
            attach: true,
            mask_accounts,
            always: true,
            resend: false,
        }
    }

    #[test]
    fn incomplete_reasons_are_masked_too() {
        let facts = crate::summary::RunFacts {
            run_id: "r".into(),
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            started_at: chrono::Utc::now(),
            timings_ms: vec![],
            packs: vec![],
            brokers: vec!["tastytrade".into()],
            accounts_checked: 2,
            positions_checked: 0,
            incomplete: vec![
                crate::summary::IncompleteItem {
                    broker: "tastytrade".into(),
                    account: Some("5WT00001".into()),
                    reason: "some of tastytrade/5WT00001/positions.json could not be read".into(),
                },
                crate::summary::IncompleteItem {
                    broker: "tastytrade".into(),
                    account: None,
                    reason: "accounts: 5WT00002 listed twice".into(),
                },
            ],
            exit_code: 2,
            config_sha256: None,
            peak_rss_kib: None,
            accounts: vec![],
        };
        let summary = Summary::new(&facts, &[finding_for("5WT00002")], &[]);
        let findings = [finding_for("5WT00002")];
        let (text, html) = bodies(&settings(true), &summary, &findings, Path::new("r.html"));
        for body in [&text, &html] {
            assert!(
                !body.contains("5WT00001") && !body.contains("5WT00002"),
                "{body}"
            );
            assert!(
                body.contains("5W**0001") && body.contains("5W**0002"),
                "{body}"
            );
        }
        let (text, _) = bodies(&settings(false), &summary, &findings, Path::new("r.html"));
        assert!(
            text.contains("tastytrade/5WT00001/positions.json"),
            "{text}"
        );
    }

    #[test]
    fn masking_keeps_the_ends() {
        assert_eq!(mask("TZ10000002"), "TZ****0002");
        assert_eq!(mask("5WT00001"), "5W**0001");
        assert_eq!(mask("A1234"), "***34");
        assert_eq!(mask("AB"), "AB");
    }

    #[test]
    fn routes_add_recipients_for_the_severities_present() {
        let settings = EmailSettings {
            delivery: Delivery::File,
            from: "recon@localhost".into(),
            to: vec!["desk@example.com".into()],
            routes: BTreeMap::from([
                (Severity::Critical, vec!["cro@example.com".into()]),
                (Severity::Error, vec!["ops@example.com".into()]),
            ]),
            attach: true,
            mask_accounts: true,
            always: false,
            resend: false,
        };
        let f = Finding {
            rule: "r".into(),
            pack: "p".into(),
            severity: Severity::Error,
            status: FindingStatus::New,
            broker: None,
            account: None,
            position: None,
            symbol: None,
            message: String::new(),
            evidence: Default::default(),
            first_seen: None,
        };
        assert_eq!(
            recipients(&settings, std::slice::from_ref(&f)),
            vec!["desk@example.com", "ops@example.com"]
        );
        let waived = Finding {
            status: FindingStatus::Waived,
            ..f
        };
        assert_eq!(recipients(&settings, &[waived]), vec!["desk@example.com"]);
    }
}
