//! The harness every broker's fuzz target shares: the broker's quirks fixture
//! (`fixtures/<broker>/quirks`) copied once into a private folder; each input picks one of
//! its files (first byte) and replaces it with the rest of the input; the broker's parser
//! reads the folder; the file is put back.
//!
//! Besides "never panics", it checks what the mutation property test checks: every account
//! of the manifest is still read, and when the file is no longer well-formed JSON or XML but
//! fewer positions come out than from the clean fixture, a new quarantine row or a newly
//! incomplete account says so. (A well-formed file with fewer records — `[]`, a list with
//! an element cut out — is a different answer from the broker, not a lost one: the first
//! runs stopped on exactly such inputs.)

use recon_model::Book;
use recon_model::manifest::{BrokerManifest, Manifest};
use recon_parse::common::OpenBroker;
use std::path::{Path, PathBuf};

/// A broker module's `open`: its account list read, its accounts ready to be read.
type OpenBrokerFn = fn(&Path, Option<&BrokerManifest>, &[String], chrono::NaiveDate) -> OpenBroker;

pub struct Harness {
    dir: PathBuf,
    files: Vec<(PathBuf, Vec<u8>)>,
    manifest: Manifest,
    broker: String,
    open: OpenBrokerFn,
    clean_accounts: usize,
    clean_positions: usize,
    clean_quarantine: Vec<String>,
    clean_incomplete: usize,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("fixture folder")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Whether `body` parses as the kind of document its file name says (XML with the same
/// reader E*TRADE's parser uses).
fn well_formed(path: &Path, body: &[u8]) -> bool {
    if path.extension().is_some_and(|e| e == "xml") {
        // An empty document reads as an empty root: not a well-formed answer.
        std::str::from_utf8(body).is_ok_and(|t| {
            recon_parse::etrade::xml_to_value(t)
                .is_ok_and(|v| v.as_object().is_some_and(|root| !root.is_empty()))
        })
    } else {
        serde_json::from_slice::<serde_json::Value>(body).is_ok()
    }
}

fn quarantine_keys(book: &Book) -> Vec<String> {
    book.quarantine
        .iter()
        .map(|q| format!("{:?}|{}|{}|{}", q.account_id, q.source, q.pointer, q.reason))
        .collect()
}

impl Harness {
    pub fn new(broker: &str, open: OpenBrokerFn) -> Harness {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures")
            .join(broker)
            .join("quirks");
        let dir = std::env::temp_dir().join(format!("recon-fuzz-{broker}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut sources = Vec::new();
        walk(&fixture, &mut sources);
        let mut files = Vec::new();
        for src in sources {
            let rel = src.strip_prefix(&fixture).unwrap();
            let dst = dir.join(rel);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            let bytes = std::fs::read(&src).unwrap();
            std::fs::write(&dst, &bytes).unwrap();
            // The manifest is the run's frame, not broker input: it stays whole.
            if !rel.ends_with("manifest.json") {
                files.push((dst, bytes));
            }
        }
        let manifest: Manifest =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        let mut h = Harness {
            dir,
            files,
            manifest,
            broker: broker.to_string(),
            open,
            clean_accounts: 0,
            clean_positions: 0,
            clean_quarantine: Vec::new(),
            clean_incomplete: 0,
        };
        let (book, incomplete) = h.read();
        h.clean_accounts = book.accounts.len();
        h.clean_positions = book.positions.len();
        h.clean_quarantine = quarantine_keys(&book);
        h.clean_incomplete = incomplete.len();
        h
    }

    fn read(&self) -> (Book, Vec<String>) {
        let entry = self.manifest.brokers.get(&self.broker);
        let accounts = entry.map(|e| e.accounts.clone()).unwrap_or_default();
        // Every account in one chunk, after the list's own rows, as a whole check reads it.
        let open = (self.open)(&self.dir, entry, &accounts, self.manifest.as_of);
        let mut book = open.list_rows.clone();
        let (rows, incomplete) = open.read(&open.accounts);
        book.extend(rows);
        (book, incomplete)
    }

    pub fn run(&self, data: &[u8]) {
        let Some((&pick, body)) = data.split_first() else {
            return;
        };
        let (path, original) = &self.files[pick as usize % self.files.len()];
        std::fs::write(path, body).unwrap();
        let (book, incomplete) = self.read();
        std::fs::write(path, original).unwrap();

        assert_eq!(
            book.accounts.len(),
            self.clean_accounts,
            "{}: an account vanished",
            path.display()
        );
        if book.positions.len() < self.clean_positions && !well_formed(path, body) {
            let said = quarantine_keys(&book)
                .iter()
                .any(|q| !self.clean_quarantine.contains(q))
                || incomplete.len() > self.clean_incomplete;
            assert!(said, "{}: positions lost without a word", path.display());
        }
    }
}
