//! What every broker module shares: the quarantine notes of one file (a bad field is noted
//! with its JSON pointer and left empty, never guessed), exact amounts at frame scale, and
//! small readers for ids and records.

use crate::exact::{self, to_frame_scale};
use recon_model::{Broker, CompactString, QuarantineRow};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Collects quarantine rows for one file.
pub struct Notes<'a> {
    broker: Broker,
    account: Option<&'a str>,
    source: String,
    rows: &'a mut Vec<QuarantineRow>,
}

impl<'a> Notes<'a> {
    pub fn new(
        broker: Broker,
        account: Option<&'a str>,
        source: String,
        rows: &'a mut Vec<QuarantineRow>,
    ) -> Self {
        Notes {
            broker,
            account,
            source,
            rows,
        }
    }

    pub fn note(&mut self, pointer: impl Into<String>, reason: impl Into<String>) {
        self.rows.push(QuarantineRow {
            broker: self.broker,
            account_id: self.account.map(str::to_string),
            source: self.source.clone(),
            pointer: pointer.into(),
            reason: reason.into(),
        });
    }

    /// A position's size: a required number. `None`, noted, when it is missing or unreadable
    /// (the position cannot be read without it).
    pub fn size(&mut self, pointer: &str, field: &str, raw: Option<&RawValue>) -> Option<Decimal> {
        match exact::number(raw) {
            Ok(Some(d)) => Some(to_frame_scale(d).0),
            Ok(None) => {
                self.note(pointer, format!("no `{field}`: size unknown"));
                None
            }
            Err(e) => {
                self.note(
                    format!("{pointer}/{field}"),
                    format!("`{field}`: {e}: size unknown"),
                );
                None
            }
        }
    }

    /// A number field: exact, at frame scale; a bad value is noted and left null.
    pub fn amount(
        &mut self,
        pointer: &str,
        field: &str,
        raw: Option<&RawValue>,
    ) -> Option<Decimal> {
        match exact::number(raw) {
            Ok(Some(d)) => {
                let (r, rounded) = to_frame_scale(d);
                if rounded {
                    self.note(
                        format!("{pointer}/{field}"),
                        format!("`{field}` {d} has more than 8 decimals; rounded half-even to {r}"),
                    );
                }
                Some(r)
            }
            Ok(None) => None,
            Err(e) => {
                self.note(
                    format!("{pointer}/{field}"),
                    format!("`{field}`: {e}; left empty"),
                );
                None
            }
        }
    }
}

impl Notes<'_> {
    /// `factors` multiplied, at frame scale. Checked: a product that overflows (broker
    /// values are bounded, but three of them multiplied need not be) is noted at `pointer`
    /// and left empty, never a panic.
    pub fn product(&mut self, pointer: &str, what: &str, factors: &[Decimal]) -> Option<Decimal> {
        match exact::checked_product(factors) {
            Some(p) => Some(p),
            None => {
                self.note(pointer, format!("{what} overflows: left empty"));
                None
            }
        }
    }

    /// `a + b`, checked like [`product`](Self::product).
    pub fn sum(&mut self, pointer: &str, what: &str, a: Decimal, b: Decimal) -> Option<Decimal> {
        match a.checked_add(b) {
            Some(s) => Some(s),
            None => {
                self.note(pointer, format!("{what} overflows: left empty"));
                None
            }
        }
    }
}

/// The JSON pointers to the items of one list (`/data/items/0`, `/data/items/1`, …), each
/// written over the last in one buffer: every row read needs one, though only a row that
/// is noted keeps it, and a fresh string per row was ~2 % of reading a snapshot.
pub struct ItemPointer {
    text: String,
    base: usize,
}

impl ItemPointer {
    /// Pointers to the items of the list at `list` (`""` for a body that is the list).
    pub fn new(list: &str) -> Self {
        let mut text = String::with_capacity(list.len() + 8);
        text.push_str(list);
        text.push('/');
        ItemPointer {
            base: text.len(),
            text,
        }
    }

    /// The pointer to item `i`.
    pub fn at(&mut self, i: usize) -> &str {
        use std::fmt::Write;
        self.text.truncate(self.base);
        // Writing a number into a `String` cannot fail.
        let _ = write!(self.text, "{i}");
        &self.text
    }
}

/// The `data` of a `{"data": …, "error": …}` body (Clear Street, tastytrade), or why there is
/// none: an `error` stored in place of an answer is said, never read as an empty account.
pub fn envelope_data<'a>(text: &'a str, shape: &str) -> Result<&'a RawValue, String> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, default)]
        data: Option<&'a RawValue>,
        #[serde(borrow, default)]
        error: Option<&'a RawValue>,
    }
    let env: Envelope =
        serde_json::from_str(text).map_err(|e| format!("not a {shape} body: {e}"))?;
    match (env.data, env.error) {
        (Some(d), _) if d.get() != "null" => Ok(d),
        (_, Some(e)) if e.get() != "null" => {
            Err(format!("the broker answered an error: {}", e.get()))
        }
        _ => Err(format!("{shape} body without `data`")),
    }
}

/// The records of the array found by following `path` (object keys from the top; none for
/// a bare array), in one pass over the text; `None` when the body has any other shape, or
/// names a key of `path` or of `unique` twice, or escapes a key. A body is otherwise read in
/// one pass per level (the envelope, then its array, then each record): this is only the
/// common case read faster, so callers fall back to their own reading, which says what is
/// wrong in the words it always did.
pub fn array_at<'a>(text: &'a str, path: &[&str], unique: &[&str]) -> Option<Vec<&'a RawValue>> {
    records_at(text, path, unique)
}

/// `array_at` with every record read as a `T` in the same pass: `None` also when any record
/// is not a `T`. The caller then reads the records one by one (`array_at`, then `parse`),
/// so that a bad record is noted with its place and the others still read: a body whose
/// records all read (the usual case) is read once instead of twice.
pub fn records_at<'a, T: Deserialize<'a>>(
    text: &'a str,
    path: &[&str],
    unique: &[&str],
) -> Option<Vec<T>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = ArrayAt {
        path,
        unique,
        record: std::marker::PhantomData,
    };
    let found = serde::de::DeserializeSeed::deserialize(seed, &mut de).ok()?;
    de.end().ok()?;
    found
}

/// Each record of a list body as a `T` (or why that record is not one), or why the body
/// has no list: in one pass when every record reads (`records_at`), else by `list` and
/// then record by record, so that each bad one is said with its place.
pub fn each_record<'a, T: Deserialize<'a>>(
    text: &'a str,
    path: &[&str],
    unique: &[&str],
    list: impl FnOnce(&'a str) -> Result<Vec<&'a RawValue>, String>,
) -> Result<Vec<Result<T, String>>, String> {
    if let Some(all) = records_at::<T>(text, path, unique) {
        return Ok(all.into_iter().map(Ok).collect());
    }
    Ok(list(text)?.into_iter().map(parse::<T>).collect())
}

/// What `records_at` reads at one level of its path.
struct ArrayAt<'p, T> {
    path: &'p [&'p str],
    unique: &'p [&'p str],
    record: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> serde::de::DeserializeSeed<'de> for ArrayAt<'_, T> {
    type Value = Option<Vec<T>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.path {
            [] => Vec::<T>::deserialize(d).map(Some),
            _ => d.deserialize_map(self),
        }
    }
}

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ArrayAt<'_, T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let (key, rest) = (self.path[0], &self.path[1..]);
        let mut found = None;
        let mut seen = vec![false; self.unique.len()];
        while let Some(name) = map.next_key::<&str>()? {
            if name == key {
                if found.is_some() {
                    return Ok(None);
                }
                let inner = ArrayAt {
                    path: rest,
                    unique: &[],
                    record: std::marker::PhantomData,
                };
                match map.next_value_seed(inner)? {
                    Some(items) => found = Some(items),
                    None => return Ok(None),
                }
                continue;
            }
            if let Some(i) = self.unique.iter().position(|u| *u == name)
                && std::mem::replace(&mut seen[i], true)
            {
                return Ok(None);
            }
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(found)
    }
}

/// A string or number as text (ids sent either way), numbers with their exact digits;
/// `None` for anything else. Inline up to 24 bytes (ids are shorter): no allocation.
pub fn text_of(raw: Option<&RawValue>) -> Option<CompactString> {
    let text = raw?.get().trim();
    let value: CompactString = match text.as_bytes().first()? {
        // A string: sliced as is unless it has escapes to undo.
        b'"' => match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(inner) if !inner.contains('\\') => inner.trim().into(),
            _ => serde_json::from_str::<String>(text).ok()?.trim().into(),
        },
        // A number: its own digits (an f64 would round long ids).
        b'-' | b'0'..=b'9' => text.into(),
        _ => return None,
    };
    (!value.is_empty()).then_some(value)
}

/// `s` in capitals (ASCII), inline up to 24 bytes: symbols and roots as rows keep them.
pub fn upper(s: &str) -> CompactString {
    let mut upper = CompactString::from(s);
    upper.make_ascii_uppercase();
    upper
}

/// One record into its typed struct.
pub fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Result<T, String> {
    serde_json::from_str(raw.get()).map_err(|e| e.to_string())
}

/// A whole file that could not be read.
pub fn file_problem(broker: Broker, id: &str, source: &str, reason: &str) -> QuarantineRow {
    QuarantineRow {
        broker,
        account_id: Some(id.to_string()),
        source: source.to_string(),
        pointer: String::new(),
        reason: reason.to_string(),
    }
}

/// What every broker's `read_account(root, id, as_of, list_entry, expected_missing)` gives:
/// the account's rows and quarantine, and whether all of its data could be read (an
/// incomplete account's checks are unknown, never clean).
#[derive(Debug, Default)]
pub struct AccountRead {
    pub book: recon_model::Book,
    pub complete: bool,
}

/// The text of one snapshot file, or the quarantine row saying why not. `None` with no row
/// when the file is missing and the manifest already reports the endpoint as not fetched.
pub fn read_text(
    root: &std::path::Path,
    broker: Broker,
    account: &str,
    source: &str,
    expected_missing: bool,
    quarantine: &mut Vec<QuarantineRow>,
) -> Option<String> {
    match std::fs::read(root.join(source)) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => {
                quarantine.push(file_problem(broker, account, source, "not UTF-8 text"));
                None
            }
        },
        Err(e) => {
            if !expected_missing {
                quarantine.push(file_problem(
                    broker,
                    account,
                    source,
                    &format!("cannot read: {e}"),
                ));
            }
            None
        }
    }
}

/// The pages of a paged endpoint, `<stem>.0001.json`, `<stem>.0002.json`, … in order, up to
/// the first missing number: each page's source path and text. When a later page exists
/// beyond that gap, the missing page is answered as an unreadable one (an `Err` entry), so
/// the account is incomplete and the gap named, never read as the end of the list.
pub fn read_pages(root: &std::path::Path, stem: &str) -> Vec<(String, std::io::Result<String>)> {
    let mut pages = Vec::new();
    for n in 1.. {
        let source = format!("{stem}.{n:04}.json");
        let path = root.join(&source);
        if !path.exists() {
            if let Some(gap) = page_gap(root, stem, n) {
                pages.push((source, Err(std::io::Error::other(gap))));
            }
            break;
        }
        let text = std::fs::read(&path).and_then(|b| {
            String::from_utf8(b).map_err(|_| std::io::Error::other("not UTF-8 text"))
        });
        pages.push((source, text));
    }
    pages
}

/// Why page `missing` of `stem` is a gap rather than the end: the highest page stored
/// beyond it (`<stem>.NNNN.json` or `.xml`). `None` when no later page exists.
pub fn page_gap(root: &std::path::Path, stem: &str, missing: u32) -> Option<String> {
    let stem_path = root.join(stem);
    let dir = stem_path.parent()?;
    let prefix = format!("{}.", stem_path.file_name()?.to_str()?);
    let last = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let rest = name.strip_prefix(&prefix)?;
            let (number, ext) = rest.split_once('.')?;
            let is_page = number.len() >= 4
                && number.bytes().all(|b| b.is_ascii_digit())
                && matches!(ext, "json" | "xml");
            if is_page {
                number.parse::<u32>().ok()
            } else {
                None
            }
        })
        .filter(|&n| n > missing)
        .max()?;
    Some(format!(
        "page {missing} is missing but page {last} is in the snapshot: the pages in between were not all stored"
    ))
}

/// One broker of a snapshot, opened: its account list read once (the list's own problems
/// in `list_rows`, which belong to no account), and a reader for any part of its accounts.
/// A run reads its accounts chunk by chunk (DESIGN.md "Bounded memory"); reading them all at
/// once is one chunk.
pub struct OpenBroker {
    /// Every account to read, in order: the manifest's list, or without a manifest the
    /// account folders found and then every account the stored list names without a folder
    /// (which then finds its files missing and is incomplete, never silently absent).
    pub accounts: Vec<String>,
    /// Rows of the account list itself: its quarantine.
    pub list_rows: recon_model::Book,
    /// The endpoints the manifest reports as not fetched, per account: their missing
    /// files are already a fetch-incomplete finding and are not reported again.
    failed: std::collections::HashMap<String, Vec<String>>,
    #[allow(clippy::type_complexity)]
    read: Box<dyn Fn(&str, &[&str]) -> AccountRead + Send + Sync>,
}

impl OpenBroker {
    /// Reads `ids` in parallel (accounts are independent) and merges them in the order
    /// given. Returns the rows and the accounts that are incomplete.
    pub fn read(&self, ids: &[String]) -> (recon_model::Book, Vec<String>) {
        use rayon::prelude::*;
        let outputs: Vec<(&String, AccountRead)> =
            ids.par_iter().map(|id| (id, self.read_one(id))).collect();
        let mut book = recon_model::Book::default();
        let mut incomplete = Vec::new();
        for (id, read) in outputs {
            if !read.complete {
                incomplete.push(id.clone());
            }
            book.extend(read.book);
        }
        (book, incomplete)
    }

    /// Reads one account: its rows and whether all its files could be read.
    pub fn read_one(&self, id: &str) -> AccountRead {
        let failed: Vec<&str> = self
            .failed
            .get(id)
            .map(|f| f.iter().map(String::as_str).collect())
            .unwrap_or_default();
        (self.read)(id, &failed)
    }
}

/// Opens one broker's snapshot, the one shape every broker module follows: its account
/// list read by `list` (each account's entry by id, problems quarantined); `read` then
/// reads one account of `root` for `as_of` with its entry and the endpoints the manifest
/// reports as not fetched.
pub fn open_broker<L: Send + Sync + 'static>(
    root: &std::path::Path,
    entry: Option<&recon_model::manifest::BrokerManifest>,
    accounts: &[String],
    as_of: chrono::NaiveDate,
    list: impl FnOnce(
        &std::path::Path,
        &mut Vec<QuarantineRow>,
    ) -> std::collections::BTreeMap<String, L>,
    read: impl Fn(&std::path::Path, &str, chrono::NaiveDate, Option<&L>, &[&str]) -> AccountRead
    + Send
    + Sync
    + 'static,
) -> OpenBroker {
    let mut list_rows = recon_model::Book::default();
    let list = list(root, &mut list_rows.quarantine);
    let mut all: Vec<String> = accounts.to_vec();
    if entry.is_none() {
        let known: std::collections::BTreeSet<&String> = accounts.iter().collect();
        let extra: Vec<String> = list
            .keys()
            .filter(|id| !known.contains(id))
            .cloned()
            .collect();
        all.extend(extra);
    }
    let mut failed: std::collections::HashMap<String, Vec<String>> = Default::default();
    for err in entry.iter().flat_map(|e| &e.errors) {
        if let Some(account) = &err.account {
            failed
                .entry(account.clone())
                .or_default()
                .push(err.endpoint.clone());
        }
    }
    let root = root.to_path_buf();
    OpenBroker {
        accounts: all,
        list_rows,
        failed,
        read: Box::new(move |id, failed| read(&root, id, as_of, list.get(id), failed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn item_pointers_are_the_list_and_the_index() {
        let mut at = ItemPointer::new("/data/items");
        assert_eq!(at.at(0), "/data/items/0");
        assert_eq!(at.at(12345), "/data/items/12345");
        assert_eq!(at.at(7), "/data/items/7");
        assert_eq!(ItemPointer::new("").at(3), "/3");
    }

    #[test]
    fn a_page_missing_before_a_later_one_is_a_gap_not_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let acct = dir.path().join("clearstreet/A1");
        std::fs::create_dir_all(&acct).unwrap();
        std::fs::write(acct.join("positions.0001.json"), "{}").unwrap();
        std::fs::write(acct.join("positions.0003.json"), "{}").unwrap();
        let pages = read_pages(dir.path(), "clearstreet/A1/positions");
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[1].0, "clearstreet/A1/positions.0002.json");
        let gap = pages[1].1.as_ref().unwrap_err().to_string();
        assert!(gap.contains("page 2 is missing but page 3"), "{gap}");
        // Without a later page, the first missing number is simply the end.
        std::fs::remove_file(acct.join("positions.0003.json")).unwrap();
        assert_eq!(read_pages(dir.path(), "clearstreet/A1/positions").len(), 1);
    }

    #[test]
    fn array_at_reads_the_common_shape_and_leaves_the_rest_to_the_caller() {
        let texts = |items: Option<Vec<&RawValue>>| {
            items.map(|v| v.iter().map(|r| r.get().to_string()).collect::<Vec<_>>())
        };
        let path = ["data", "items"];
        let found = array_at(
            r#"{"error":null,"data":{"x":[0],"items":[1, {"a":[2]}]},"m":{}}"#,
            &path,
            &["error"],
        );
        assert_eq!(texts(found), Some(vec!["1".into(), r#"{"a":[2]}"#.into()]));
        assert_eq!(
            texts(array_at(" [3,4] ", &[], &[])),
            Some(vec!["3".into(), "4".into()])
        );
        // Each of these is read (or refused) by the caller's own reading instead.
        for body in [
            r#"{"data":null,"error":"no"}"#,
            r#"{"error":"no"}"#,
            r#"{"data":{"items":[1]},"data":{"items":[2]}}"#,
            r#"{"data":{"items":[1],"items":[2]}}"#,
            r#"{"error":1,"error":2,"data":{"items":[]}}"#,
            r#"{"d\u0061ta":{"items":[]}}"#,
            r#"{"data":{"items":{}}}"#,
            r#"{"data":{"items":[]}} trailing"#,
            r#"[[1], null]"#,
            r#"{"data":{"items":[1,]}}"#,
        ] {
            assert_eq!(texts(array_at(body, &path, &["error"])), None, "{body}");
        }
    }

    #[test]
    fn each_record_reads_every_good_record_whether_or_not_one_is_bad() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Rec {
            n: u32,
        }
        let list = |t| array_at(t, &["data"], &[]).ok_or_else(|| "no list".to_string());
        let read = |text| each_record::<Rec>(text, &["data"], &[], list);
        let all = read(r#"{"data":[{"n":1},{"n":2}]}"#).unwrap();
        assert_eq!(all, vec![Ok(Rec { n: 1 }), Ok(Rec { n: 2 })]);
        let one_bad = read(r#"{"data":[{"n":1},{"n":"x"},{"n":3}]}"#).unwrap();
        assert_eq!(one_bad[0], Ok(Rec { n: 1 }));
        assert!(
            one_bad[1].as_ref().unwrap_err().contains("invalid type"),
            "{one_bad:?}"
        );
        assert_eq!(one_bad[2], Ok(Rec { n: 3 }));
        assert_eq!(read(r#"{"data":{}}"#), Err("no list".to_string()));
    }

    #[test]
    fn text_of_reads_strings_and_numbers_exactly() {
        assert_eq!(text_of(Some(&raw("\" TZ1 \""))), Some("TZ1".into()));
        assert_eq!(text_of(Some(&raw(r#""a\"b""#))), Some("a\"b".into()));
        assert_eq!(
            text_of(Some(&raw("123456789012345678901234"))),
            Some("123456789012345678901234".into())
        );
        assert_eq!(text_of(Some(&raw("\"  \""))), None);
        assert_eq!(text_of(Some(&raw("null"))), None);
        assert_eq!(text_of(Some(&raw("true"))), None);
        assert_eq!(text_of(None), None);
    }
}
