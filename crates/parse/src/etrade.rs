//! E*TRADE (BROKERS.md §4) → canonical rows.
//!
//! Every body — JSON, or XML (`.xml` files) — is first read into one JSON value, and keys
//! are matched case-insensitively, so one reader survives both formats and the casing that
//! drifts (`Product` / `product`, `quotestatus` / `quoteStatus`). On top of that it survives:
//! `XxxResponse` roots, a one-element list sent as an object and a missing list as empty,
//! numbers and booleans as strings, `totalPages` / `totalNoOfPages`, epoch milliseconds,
//! dash-padded `osiKey`s (or option fields without one), signed quantities with a
//! `positionType`, the multiplier and CUSIP from the Complete view (else 100 for options),
//! zero `costPerShare` on transferred-in lots, and the legacy v0 `AccountPositionsResponse`
//! shape (`longOrShort`, signed `qty`, `productId` with option fields, negative
//! `currentPrice` on short options), since files in that shape still circulate.

mod typed;

use crate::common::{AccountRead, ItemPointer, Notes, file_problem};
use crate::exact::{self, to_frame_scale};
use crate::tree::Node;
use chrono::NaiveDate;
use recon_model::occ::OccSymbol;
use recon_model::{
    AccountKind, AccountRow, AccountStatus, BalanceRow, Book, Broker, CompactString, Instrument,
    PositionRow, PutCall, QuarantineRow, Side,
};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

const BROKER: Broker = Broker::Etrade;

/// An XML document as a JSON value: an element with children is an object (a child that
/// repeats becomes an array), an element with only text is a string, an empty one null.
pub fn xml_to_value(text: &str) -> Result<Value, String> {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut reader = Reader::from_str(text);
    // Each open element: its name, its children so far, its text.
    let mut stack: Vec<(String, Map<String, Value>, String)> =
        vec![(String::new(), Map::new(), String::new())];
    loop {
        match reader.read_event() {
            Err(e) => {
                return Err(format!("not XML at byte {}: {e}", reader.error_position()));
            }
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                stack.push((name, Map::new(), String::new()));
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if let Some(parent) = stack.last_mut() {
                    insert(&mut parent.1, name, Value::Null);
                }
            }
            Ok(Event::Text(t)) => {
                let text = t
                    .decode()
                    .map_err(|e| format!("bad text: {e}"))?
                    .into_owned();
                let text = quick_xml::escape::unescape(&text)
                    .map_err(|e| format!("bad escape: {e}"))?
                    .into_owned();
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&text);
                }
            }
            Ok(Event::CData(t)) => {
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Ok(Event::GeneralRef(r)) => {
                // `&amp;` and the other four XML names, or a character reference (`&#38;`).
                let name = String::from_utf8_lossy(&r).into_owned();
                let text = match quick_xml::escape::resolve_xml_entity(&name) {
                    Some(text) => text.to_string(),
                    None => match r.resolve_char_ref() {
                        Ok(Some(ch)) => ch.to_string(),
                        _ => return Err(format!("unknown entity &{name};")),
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.2.push_str(&text);
                }
            }
            Ok(Event::End(_)) => {
                let (name, children, text) = stack.pop().ok_or("unbalanced XML")?;
                let value = if !children.is_empty() {
                    Value::Object(children)
                } else if text.trim().is_empty() {
                    Value::Null
                } else {
                    Value::String(text.trim().to_string())
                };
                let parent = stack.last_mut().ok_or("unbalanced XML")?;
                insert(&mut parent.1, name, value);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
    }
    if stack.len() != 1 {
        return Err("XML ends inside an element (truncated?)".into());
    }
    let (_, root, _) = stack.pop().ok_or("empty XML")?;
    Ok(Value::Object(root))
}

/// JSON text with every bare number turned into a string (`12.5` → `"12.5"`), so a
/// `serde_json::Value` keeps its exact digits: without serde_json's `arbitrary_precision`
/// (which would rebuild polars, which shares serde_json) a `Value` number is an f64.
/// Strings, escapes and literals pass through untouched.
pub fn quote_numbers(json: &str) -> String {
    let b = json.as_bytes();
    let mut out = Vec::with_capacity(b.len() + b.len() / 8);
    // Copied in spans: everything up to `start` is already in `out`.
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                out.extend_from_slice(&b[start..i]);
                let number = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                out.push(b'"');
                out.extend_from_slice(&b[number..i]);
                out.push(b'"');
                start = i;
            }
            _ => i += 1,
        }
    }
    out.extend_from_slice(&b[start.min(b.len())..]);
    // Only ASCII quotes were added, between ASCII bytes: still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| json.to_string())
}

fn insert(map: &mut Map<String, Value>, name: String, value: Value) {
    match map.get_mut(&name) {
        None => {
            map.insert(name, value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
    }
}

/// A body of `<stem>.json` or `<stem>.xml` (whichever exists): the JSON text (and, once
/// a tree is asked for, the text with its numbers quoted, which the tree borrows from), or
/// the XML already read into a tree.
enum Body {
    Json {
        text: String,
        quoted: std::cell::OnceCell<String>,
    },
    Xml(Node<'static>),
}

impl Body {
    /// The JSON parsed (borrowing the text), or the XML tree itself.
    fn tree(&self) -> Result<Cow<'_, Node<'_>>, String> {
        match self {
            Body::Json { text, quoted } => Node::parse(quoted.get_or_init(|| quote_numbers(text)))
                .map(Cow::Owned)
                .map_err(|e| format!("not JSON: {e}")),
            Body::Xml(node) => Ok(Cow::Borrowed(node)),
        }
    }

    /// The JSON text as it came.
    fn json(&self) -> Option<&str> {
        match self {
            Body::Json { text, .. } => Some(text),
            Body::Xml(_) => None,
        }
    }
}

/// Reads `<stem>.json` or `<stem>.xml` (whichever exists).
fn load(root: &Path, stem: &str) -> Result<(String, Body), (String, String)> {
    for ext in ["json", "xml"] {
        let source = format!("{stem}.{ext}");
        // Read without asking first whether the file is there: one system call less per file.
        let text = match std::fs::read(root.join(&source)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            read => read
                .map_err(|e| e.to_string())
                .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string())),
        };
        let body = text.and_then(|t| {
            if ext == "xml" {
                xml_to_value(&t).map(|v| Body::Xml(Node::from_value(v)))
            } else {
                Ok(Body::Json {
                    text: t,
                    quoted: Default::default(),
                })
            }
        });
        return body.map(|b| (source.clone(), b)).map_err(|e| (source, e));
    }
    Err((format!("{stem}.json"), "missing".into()))
}

/// A loaded body as a tree, or why it is unreadable (as `load` says it).
fn parsed(
    loaded: &Result<(String, Body), (String, String)>,
) -> Result<(String, Cow<'_, Node<'_>>), (String, String)> {
    match loaded {
        Ok((source, body)) => body
            .tree()
            .map(|tree| (source.clone(), tree))
            .map_err(|e| (source.clone(), e)),
        Err(e) => Err(e.clone()),
    }
}

/// `v.key`, the key matched case-insensitively (`Product`/`product`): a scan, since the
/// objects are small and lower-casing every key of every body costs more.
fn at<'a, 'b>(v: &'a Node<'b>, key: &str) -> Option<&'a Node<'b>> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

/// Where the reader finds a position's values: in the tree of any page ([`at`]), or in the
/// typed reading of a page in the usual v1 shape (`typed`). Keys are asked in lower case.
trait Fields<'b> {
    /// The value under `key`; null or absent: `None`.
    fn get(&self, key: &str) -> Option<&Node<'b>>;
}

/// A position: its values, its product, and its quote views (`complete`, `quick`, …).
trait PositionFields<'b>: Fields<'b> {
    type Product: Fields<'b>;
    type View: Fields<'b>;
    fn product(&self) -> Option<&Self::Product>;
    fn view(&self, name: &str) -> Option<&Self::View>;
}

impl<'b> Fields<'b> for Node<'b> {
    fn get(&self, key: &str) -> Option<&Node<'b>> {
        at(self, key)
    }
}

impl<'b> PositionFields<'b> for Node<'b> {
    type Product = Node<'b>;
    type View = Node<'b>;
    fn product(&self) -> Option<&Node<'b>> {
        at(self, "product")
    }
    fn view(&self, name: &str) -> Option<&Node<'b>> {
        at(self, name)
    }
}

/// `o.key`, when there is an `o`.
fn field<'a, 'b, F: Fields<'b>>(o: Option<&'a F>, key: &str) -> Option<&'a Node<'b>> {
    o?.get(key)
}

/// A list: an array, one bare object, or nothing.
fn items<'a, 'b>(v: Option<&'a Node<'b>>) -> Vec<&'a Node<'b>> {
    match v {
        Some(Node::Arr(a)) => a.iter().collect(),
        Some(Node::Null) | None => Vec::new(),
        Some(other) => vec![other],
    }
}

fn text(v: Option<&Node>) -> Option<CompactString> {
    match v? {
        Node::Str(s) if !exact::trim(s).is_empty() => Some(exact::trim(s).into()),
        _ => None,
    }
}

/// The Complete view's `cusip`, check digit verified; one that is not a CUSIP is noted and
/// left empty (the position is then matched to a book by its symbol alone).
fn cusip<'b>(notes: &mut Notes, pointer: &str, view: &impl Fields<'b>) -> Option<CompactString> {
    match view.get("cusip")? {
        Node::Null => None,
        Node::Str(s) if s.trim().is_empty() => None,
        Node::Str(s) => match recon_model::security_id::cusip(s) {
            Ok(c) => Some(CompactString::from(c)),
            Err(e) => {
                notes.note(format!("{pointer}/cusip"), format!("{e}; left empty"));
                None
            }
        },
        _ => {
            notes.note(
                format!("{pointer}/cusip"),
                "`cusip` is not text; left empty",
            );
            None
        }
    }
}

/// A number sent as a number or a string; noted and left empty when it is neither.
fn amount(notes: &mut Notes, pointer: &str, field: &str, v: Option<&Node>) -> Option<Decimal> {
    let raw = match v {
        None | Some(Node::Null) => return None,
        Some(Node::Str(s)) if exact::trim(s).is_empty() => return None,
        Some(Node::Str(s)) => exact::trim(s),
        Some(other) => {
            notes.note(
                format!("{pointer}/{field}"),
                format!("`{field}` is {other}, not a number; left empty"),
            );
            return None;
        }
    };
    match exact::parse_decimal(raw) {
        Some(d) if exact::out_of_range(&d) => {
            notes.note(
                format!("{pointer}/{field}"),
                format!(
                    "`{field}` {raw} is out of range (|x| ≥ 10^{}); left empty",
                    exact::LIMIT_DIGITS
                ),
            );
            None
        }
        Some(d) => {
            let (r, rounded) = to_frame_scale(d);
            if rounded {
                notes.note(
                    format!("{pointer}/{field}"),
                    format!("`{field}` {d} has more than 8 decimals; rounded half-even to {r}"),
                );
            }
            Some(r)
        }
        None => {
            notes.note(
                format!("{pointer}/{field}"),
                format!("`{field}` {raw:?} is not a number; left empty"),
            );
            None
        }
    }
}

pub(crate) fn read_account_list(
    root: &Path,
    quarantine: &mut Vec<QuarantineRow>,
) -> BTreeMap<String, Node<'static>> {
    let mut out = BTreeMap::new();
    let loaded = load(root, "etrade/accounts");
    let (source, v) = match parsed(&loaded) {
        Ok(x) => x,
        Err((_, e)) if e == "missing" => return out,
        Err((source, e)) => {
            Notes::new(BROKER, None, source, quarantine)
                .note("", format!("unreadable account list: {e}"));
            return out;
        }
    };
    let mut notes = Notes::new(BROKER, None, source, quarantine);
    let accounts = at(&v, "accountlistresponse").and_then(|r| at(r, "accounts"));
    if accounts.is_none() {
        notes.note("", "account list without AccountListResponse.Accounts");
    }
    for (i, a) in items(accounts.and_then(|a| at(a, "account")))
        .into_iter()
        .enumerate()
    {
        match text(at(a, "accountidkey")) {
            Some(key) => {
                out.insert(key.into(), a.clone().into_owned());
            }
            None => notes.note(
                format!("/AccountListResponse/Accounts/Account/{i}"),
                "account without `accountIdKey`",
            ),
        }
    }
    out
}

/// One account: its list entry, `balance` and every `portfolio` page.
pub(crate) fn read_account(
    root: &Path,
    key: &str,
    as_of: NaiveDate,
    list_entry: Option<&Node<'static>>,
    expected_missing: &[&str],
) -> AccountRead {
    let mut quarantine = Vec::new();
    let mut complete = true;

    let mut balance = BalanceRow::empty(BROKER, key, "USD");
    // The accounts list may omit `optionLevel`; the balance response carries it too.
    let mut option_level = None;
    let loaded = load(root, &format!("etrade/{key}/balance"));
    match parsed(&loaded) {
        Ok((source, v)) => {
            let mut notes = Notes::new(BROKER, Some(key), source, &mut quarantine);
            match at(&v, "balanceresponse") {
                Some(b) => {
                    option_level = text(at(b, "optionlevel"));
                    read_balance(b, &mut balance, &mut notes)
                }
                None => {
                    complete = false;
                    notes.note("", error_or("no BalanceResponse", &v));
                }
            }
        }
        Err((source, e)) => {
            complete = false;
            if e != "missing" || !expected_missing.contains(&"balance") {
                quarantine.push(file_problem(
                    BROKER,
                    key,
                    &source,
                    &format!("cannot read: {e}"),
                ));
            }
        }
    }

    let mut positions = Vec::new();
    let mut page = 1;
    loop {
        let stem = format!("etrade/{key}/portfolio.{page:04}");
        let read = match load(root, &stem) {
            Ok((source, body)) => read_page(key, &source, &body, &mut positions, &mut quarantine)
                .map_err(|e| (source, e)),
            Err((_, e)) if e == "missing" => {
                if let Some(gap) =
                    crate::common::page_gap(root, &format!("etrade/{key}/portfolio"), page)
                {
                    complete = false;
                    quarantine.push(file_problem(BROKER, key, &format!("{stem}.json"), &gap));
                } else if page == 1 {
                    complete = false;
                    if !expected_missing.contains(&"portfolio") {
                        quarantine.push(file_problem(
                            BROKER,
                            key,
                            &format!("{stem}.json"),
                            "no portfolio page in the snapshot",
                        ));
                    }
                }
                break;
            }
            Err(unreadable) => Err(unreadable),
        };
        match read {
            Ok(portfolio) => complete &= portfolio,
            Err((source, e)) => {
                complete = false;
                quarantine.push(file_problem(
                    BROKER,
                    key,
                    &source,
                    &format!("unreadable portfolio page: {e}"),
                ));
            }
        }
        page += 1;
    }

    let mut account = account_row(key, as_of, list_entry);
    if account.options_level.is_none() {
        account.options_level = option_level.map(String::from);
    }
    AccountRead {
        book: Book::of_account(account, balance, positions, quarantine),
        complete,
    }
}

/// One portfolio page into `positions`: read typed when it is in the usual v1 shape, else
/// by the tree. `Ok(false)` when it is not a portfolio at all, `Err` when it is not JSON.
fn read_page(
    key: &str,
    source: &str,
    body: &Body,
    positions: &mut Vec<PositionRow>,
    quarantine: &mut Vec<QuarantineRow>,
) -> Result<bool, String> {
    let mut notes = Notes::new(BROKER, Some(key), source.to_string(), quarantine);
    if let Some(typed) = body.json().and_then(typed::page) {
        read_v1(key, typed_parts(&typed), positions, &mut notes);
        return Ok(true);
    }
    let tree = body.tree()?;
    Ok(read_portfolio(key, &tree, positions, &mut notes))
}

/// What an answer that is not the expected root says instead (an `Error` body).
fn error_or(default: &str, v: &Node) -> String {
    match at(v, "error") {
        Some(e) => format!(
            "the broker answered an error: {} {}",
            text(at(e, "code")).unwrap_or_default(),
            text(at(e, "message")).unwrap_or_default()
        ),
        None => default.to_string(),
    }
}

fn read_balance(b: &Node, balance: &mut BalanceRow, notes: &mut Notes) {
    let empty = Node::Null;
    let computed = at(b, "computed").unwrap_or(&empty);
    let p = "/BalanceResponse/Computed";
    balance.cash = amount(notes, p, "cashBalance", at(computed, "cashbalance"))
        .or_else(|| amount(notes, p, "netCash", at(computed, "netcash")));
    balance.buying_power = amount(
        notes,
        p,
        "marginBuyingPower",
        at(computed, "marginbuyingpower"),
    )
    .or_else(|| amount(notes, p, "cashBuyingPower", at(computed, "cashbuyingpower")));
    balance.withdrawable_cash = amount(
        notes,
        p,
        "cashAvailableForWithdrawal",
        at(computed, "cashavailableforwithdrawal"),
    );
    if let Some(rt) = at(computed, "realtimevalues") {
        let p = "/BalanceResponse/Computed/RealTimeValues";
        balance.net_liq = amount(notes, p, "totalAccountValue", at(rt, "totalaccountvalue"));
        balance.long_market_value = amount(notes, p, "netMvLong", at(rt, "netmvlong"));
        balance.short_market_value =
            amount(notes, p, "netMvShort", at(rt, "netmvshort")).map(|v| -v.abs());
    }
    // Maintenance figures exist for portfolio-margin accounts only; Reg-T leaves them null.
    if let Some(pm) = at(computed, "portfoliomargin") {
        let p = "/BalanceResponse/Computed/PortfolioMargin";
        balance.maintenance_requirement =
            amount(notes, p, "totalMarginRqmts", at(pm, "totalmarginrqmts"));
        balance.margin_excess = amount(notes, p, "excessEquity", at(pm, "excessequity"));
    }
}

/// Reads one portfolio page (v1 or legacy v0) into `positions`. `false` when the page is
/// not a portfolio at all.
fn read_portfolio(
    key: &str,
    v: &Node,
    positions: &mut Vec<PositionRow>,
    notes: &mut Notes,
) -> bool {
    if let Some(r) = at(v, "portfolioresponse") {
        let page = V1Page {
            unknown: unknown_lists(r, &["accountportfolio", "totals"]),
            accounts: items(at(r, "accountportfolio"))
                .into_iter()
                .map(|account| {
                    let known = [
                        "accountid",
                        "totalpages",
                        "totalnoofpages",
                        "nextpageno",
                        "next",
                        "position",
                    ];
                    (
                        unknown_lists(account, &known),
                        items(at(account, "position")),
                    )
                })
                .collect(),
        };
        read_v1(key, page, positions, notes);
        true
    } else if let Some(r) = at(v, "accountpositionsresponse") {
        let known = ["accountid", "count", "marker", "accountpositions"];
        for k in unknown_lists(r, &known) {
            note_unknown(notes, "/AccountPositionsResponse", k);
        }
        let list = items(at(r, "accountpositions").and_then(|l| at(l, "accountposition")));
        // The legacy shape says how many positions it holds: a list that is shorter (a
        // renamed or mangled key) is reported, not taken for an empty account.
        if let Some(count) = text(at(r, "count")).and_then(|c| c.parse::<usize>().ok())
            && count != list.len()
        {
            notes.note(
                "/AccountPositionsResponse",
                format!(
                    "`count` says {count} positions but {} were found",
                    list.len()
                ),
            );
        }
        for (i, p) in list.into_iter().enumerate() {
            let pointer = format!("/AccountPositionsResponse/AccountPositions/AccountPosition/{i}");
            if let Some(row) = legacy_position(key, p, &pointer, notes) {
                positions.push(row);
            }
        }
        true
    } else {
        notes.note(
            "",
            error_or(
                "neither a PortfolioResponse nor an AccountPositionsResponse",
                v,
            ),
        );
        false
    }
}

/// A v1 page as the reader walks it, from the tree or from the typed reading: the lists
/// under unknown keys of its `PortfolioResponse`, and each `AccountPortfolio`'s lists under
/// unknown keys and positions.
struct V1Page<'x, P> {
    unknown: Vec<&'x str>,
    accounts: Vec<(Vec<&'x str>, Vec<&'x P>)>,
}

/// A v1 page's positions into `positions`, with what is noted about them.
fn read_v1<'b, P: PositionFields<'b>>(
    key: &str,
    page: V1Page<'_, P>,
    positions: &mut Vec<PositionRow>,
    notes: &mut Notes,
) {
    for k in page.unknown {
        note_unknown(notes, "/PortfolioResponse", k);
    }
    for (a, (unknown, list)) in page.accounts.into_iter().enumerate() {
        let at_account = format!("/PortfolioResponse/AccountPortfolio/{a}");
        for k in unknown {
            note_unknown(notes, &at_account, k);
        }
        let mut at = ItemPointer::new(&format!("{at_account}/Position"));
        positions.reserve(list.len());
        for (i, p) in list.into_iter().enumerate() {
            if let Some(row) = v1_position(key, p, at.at(i), notes) {
                positions.push(row);
            }
        }
    }
}

/// A typed v1 page's parts, as [`read_v1`] walks them.
fn typed_parts<'x, 'b>(page: &'x typed::Page<'b>) -> V1Page<'x, typed::Position<'b>> {
    V1Page {
        unknown: page.unknown.iter().map(|k| k.as_ref()).collect(),
        accounts: page
            .accounts
            .iter()
            .map(|a| {
                (
                    a.unknown.iter().map(|k| k.as_ref()).collect(),
                    a.positions.iter().collect(),
                )
            })
            .collect(),
    }
}

/// No list means no positions (E*TRADE omits empty lists); a list or object under a key
/// recon does not know may be positions under a name it has never seen: said, not skipped.
/// The keys of `v` that hold such lists.
fn unknown_lists<'x>(v: &'x Node, known: &[&str]) -> Vec<&'x str> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, value)| {
            (value.is_array() || value.is_object())
                && !known.iter().any(|known| known.eq_ignore_ascii_case(k))
        })
        .map(|(k, _)| k.as_ref())
        .collect()
}

fn note_unknown(notes: &mut Notes, pointer: &str, k: &str) {
    notes.note(
        format!("{pointer}/{k}"),
        format!("unknown list `{k}`: not read as positions"),
    );
}

/// An option contract from its parts (`symbol`, expiry fields, `callPut`, `strikePrice`).
fn option_from_parts<'b, F: Fields<'b>>(
    product: Option<&F>,
    year: &str,
    month: &str,
    day: &str,
) -> Option<OccSymbol> {
    let n = |k: &str| text(field(product, k))?.parse::<u32>().ok();
    let expiry = NaiveDate::from_ymd_opt(n(year)? as i32, n(month)?, n(day)?)?;
    let put_call = match text(field(product, "callput"))?
        .to_ascii_uppercase()
        .as_str()
    {
        "CALL" => PutCall::Call,
        "PUT" => PutCall::Put,
        _ => return None,
    };
    let strike = exact::parse_decimal(&text(field(product, "strikeprice"))?)?;
    OccSymbol::new(&text(field(product, "symbol"))?, expiry, put_call, strike).ok()
}

fn instrument_of(security_type: Option<&str>) -> Instrument {
    match security_type.map(str::to_ascii_uppercase).as_deref() {
        Some("EQ") => Instrument::Equity,
        Some("OPTN") => Instrument::EquityOption,
        Some("MF") | Some("MMF") => Instrument::Fund,
        Some("BOND") => Instrument::Bond,
        Some("INDX") => Instrument::Index,
        _ => Instrument::Other,
    }
}

struct Parsed {
    symbol: CompactString,
    underlying: CompactString,
    instrument: Instrument,
    option: Option<OccSymbol>,
}

fn contract<'b, F: Fields<'b>>(
    product: Option<&F>,
    osi: Option<CompactString>,
    pointer: &str,
    notes: &mut Notes,
    year: &str,
    month: &str,
    day: &str,
) -> Option<Parsed> {
    let instrument = instrument_of(
        text(field(product, "securitytype"))
            .or_else(|| text(field(product, "typecode")))
            .as_deref(),
    );
    let root = text(field(product, "symbol"));
    if instrument == Instrument::EquityOption {
        let occ = osi
            .as_deref()
            .and_then(|k| OccSymbol::parse(k).ok())
            .or_else(|| option_from_parts(product, year, month, day));
        let Some(occ) = occ else {
            notes.note(pointer, "option without a readable `osiKey` or expiry/strike/callPut fields: contract unknown");
            return None;
        };
        let mut underlying = root.unwrap_or_else(|| occ.root().into());
        underlying.make_ascii_uppercase();
        return Some(Parsed {
            symbol: occ.compact_text(),
            underlying,
            instrument,
            option: Some(occ),
        });
    }
    let Some(symbol) = root else {
        notes.note(pointer, "position without a product symbol");
        return None;
    };
    let mut symbol = symbol;
    symbol.make_ascii_uppercase();
    Some(Parsed {
        symbol: symbol.clone(),
        underlying: symbol,
        instrument,
        option: None,
    })
}

/// The row of a read contract, amounts unknown: v1 and legacy fill in what they carry.
fn base_row(
    key: &str,
    c: Parsed,
    position_id: CompactString,
    quantity: Decimal,
    side: Option<Side>,
    multiplier: Decimal,
) -> PositionRow {
    PositionRow {
        broker: BROKER,
        account_id: key.into(),
        position_id,
        put_call: c.option.as_ref().map(OccSymbol::put_call),
        strike: c.option.as_ref().map(OccSymbol::strike),
        expires_at: c.option.as_ref().map(OccSymbol::expiry),
        symbol: c.symbol,
        underlying: c.underlying,
        instrument: c.instrument,
        quantity,
        side,
        multiplier,
        avg_price: None,
        mark: None,
        close_price: None,
        market_value: None,
        net_liq_value: None,
        cost_basis: None,
        unrealized_pnl: None,
        pnl_expected: false,
        updated_at: None,
        cusip: None,
    }
}

/// The signed quantity: the sign of `qty` and the side must agree; the side decides.
fn signed(notes: &mut Notes, pointer: &str, qty: Decimal, side: Option<CompactString>) -> Decimal {
    // Upper-cased in place: the word is inline, and this runs once per position.
    let side = side.map(|mut s| {
        s.make_ascii_uppercase();
        s
    });
    match side.as_deref() {
        Some("SHORT") => {
            if qty.is_sign_positive() && !qty.is_zero() {
                notes.note(
                    pointer,
                    format!("quantity {qty} is positive on a SHORT position; taken as short"),
                );
            }
            -qty.abs()
        }
        Some("LONG") => {
            if qty.is_sign_negative() {
                notes.note(
                    pointer,
                    format!("quantity {qty} is negative on a LONG position; taken as long"),
                );
            }
            qty.abs()
        }
        _ => qty,
    }
}

/// A position's size: required. One note when it is missing or unreadable (the field's own,
/// from `amount`), never a second one for the row.
fn size(notes: &mut Notes, pointer: &str, field: &str, v: Option<&Node>) -> Option<Decimal> {
    let missing = match v {
        None | Some(Node::Null) => true,
        Some(Node::Str(s)) => s.trim().is_empty(),
        _ => false,
    };
    let q = amount(notes, pointer, field, v);
    if q.is_none() && missing {
        notes.note(pointer, format!("no `{field}`: size unknown"));
    }
    q
}

fn v1_position<'b>(
    key: &str,
    p: &impl PositionFields<'b>,
    pointer: &str,
    notes: &mut Notes,
) -> Option<PositionRow> {
    let c = contract(
        p.product(),
        text(p.get("osikey")),
        pointer,
        notes,
        "expiryyear",
        "expirymonth",
        "expiryday",
    )?;
    let qty = size(notes, pointer, "quantity", p.get("quantity"))?;
    let side_word = text(p.get("positiontype"));
    let side = side_word.as_deref().and_then(Side::from_broker);
    let quantity = signed(notes, pointer, qty, side_word);
    let complete = p.view("complete");
    let complete_at = complete.map(|_| format!("{pointer}/Complete"));
    let multiplier = complete
        .zip(complete_at.as_deref())
        .and_then(|(c, at)| amount(notes, at, "optionMultiplier", c.get("optionmultiplier")))
        .filter(|m| !m.is_zero())
        .unwrap_or(if c.option.is_some() {
            Decimal::ONE_HUNDRED
        } else {
            Decimal::ONE
        });
    // Transferred-in lots show a cost of 0: unknown, not free.
    let avg_price = amount(notes, pointer, "costPerShare", p.get("costpershare"))
        .filter(|a| !a.is_zero())
        .or_else(|| {
            amount(notes, pointer, "pricePaid", p.get("pricepaid")).filter(|a| !a.is_zero())
        });
    let view_last = [
        "quick",
        "complete",
        "performance",
        "fundamental",
        "optionswatch",
    ]
    .iter()
    .find_map(|view| field(p.view(view), "lasttrade"));
    let mark = amount(notes, pointer, "lastTrade", view_last)
        .or_else(|| amount(notes, pointer, "price", p.get("price")));
    let sent_value = amount(notes, pointer, "marketValue", p.get("marketvalue"));
    let market_value = match mark {
        Some(m) => notes.product(
            pointer,
            "quantity × lastTrade × multiplier",
            &[quantity, m, multiplier],
        ),
        None => sent_value,
    };
    let position_id = text(p.get("positionid")).unwrap_or_else(|| c.symbol.clone());
    let cusip = complete
        .zip(complete_at.as_deref())
        .and_then(|(view, at)| cusip(notes, at, view));
    Some(PositionRow {
        cusip,
        avg_price,
        mark,
        market_value,
        net_liq_value: market_value,
        cost_basis: amount(notes, pointer, "totalCost", p.get("totalcost")),
        unrealized_pnl: amount(notes, pointer, "totalGain", p.get("totalgain")),
        ..base_row(key, c, position_id, quantity, side, multiplier)
    })
}

fn legacy_position(key: &str, p: &Node, pointer: &str, notes: &mut Notes) -> Option<PositionRow> {
    let c = contract(
        at(p, "productid"),
        None,
        pointer,
        notes,
        "expyear",
        "expmonth",
        "expday",
    )?;
    let qty = size(notes, pointer, "qty", at(p, "qty"))?;
    let side_word = text(at(p, "longorshort"));
    let side = side_word.as_deref().and_then(Side::from_broker);
    let quantity = signed(notes, pointer, qty, side_word);
    let multiplier = if c.option.is_some() {
        Decimal::ONE_HUNDRED
    } else {
        Decimal::ONE
    };
    // Short options carry a negative currentPrice in this shape: a price is a magnitude.
    let mark = amount(notes, pointer, "currentPrice", at(p, "currentprice")).map(|m| m.abs());
    let cost_basis = amount(notes, pointer, "costBasis", at(p, "costbasis"));
    let units = notes.product(pointer, "qty × multiplier", &[quantity, multiplier]);
    let market_value = match mark {
        Some(m) => notes.product(
            pointer,
            "qty × currentPrice × multiplier",
            &[quantity, m, multiplier],
        ),
        None => amount(notes, pointer, "marketValue", at(p, "marketvalue")),
    };
    let position_id = c.symbol.clone();
    Some(PositionRow {
        avg_price: cost_basis
            .zip(units)
            .filter(|(_, u)| !u.is_zero())
            .and_then(|(b, u)| b.checked_div(u))
            .map(|a| to_frame_scale(a.abs()).0),
        mark,
        market_value,
        net_liq_value: market_value,
        cost_basis,
        ..base_row(key, c, position_id, quantity, side, multiplier)
    })
}

fn account_row(key: &str, as_of: NaiveDate, entry: Option<&Node>) -> AccountRow {
    let get = |k: &str| {
        entry
            .and_then(|e| text(at(e, k)))
            .map(|s| s.as_str().to_ascii_uppercase())
    };
    let ira = get("accounttype").is_some_and(|t| t.contains("IRA"));
    let kind = match (get("accountmode").as_deref(), ira) {
        (Some("MARGIN"), true) => AccountKind::IraMargin,
        (Some("CASH"), true) => AccountKind::IraCash,
        (Some("MARGIN"), false) => AccountKind::Margin,
        (Some("CASH"), false) => AccountKind::Cash,
        _ => AccountKind::Unknown,
    };
    let status = match get("accountstatus").as_deref() {
        None | Some("ACTIVE") => AccountStatus::Active,
        Some("CLOSED") => AccountStatus::Closed,
        Some(_) => AccountStatus::Unknown,
    };
    AccountRow {
        broker: BROKER,
        account_id: key.to_string(),
        account_name: entry
            .and_then(|e| text(at(e, "accountid")))
            .map(String::from),
        account_kind: kind,
        status,
        options_level: get("optionlevel"),
        is_paper: false,
        as_of,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_complete_views_cusip_is_verified_and_a_bad_one_noted() {
        let mut rows = Vec::new();
        let mut notes = Notes::new(BROKER, Some("K"), "p.json".into(), &mut rows);
        fn view(json: &str) -> Node<'_> {
            serde_json::from_str(json).unwrap()
        }
        let got = [
            r#"{"cusip": "037833100"}"#,
            r#"{"CUSIP": " 30303m102 "}"#,
            r#"{"cusip": ""}"#,
            r#"{"lastTrade": 1}"#,
            r#"{"cusip": "037833109"}"#,
            r#"{"cusip": 37833100}"#,
        ]
        .map(|json| cusip(&mut notes, "/Position/0/Complete", &view(json)));
        assert_eq!(
            got,
            [
                Some("037833100".into()),
                Some("30303M102".into()),
                None,
                None,
                None,
                None,
            ]
        );
        let reasons: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.pointer.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons
                .iter()
                .all(|(p, _)| *p == "/Position/0/Complete/cusip")
        );
        assert!(
            reasons[0].1.contains("`037833109` is not a CUSIP"),
            "{reasons:?}"
        );
        // A number loses a CUSIP's leading zero: never read as one.
        assert!(
            reasons[1].1.contains("`37833100` is not a CUSIP"),
            "{reasons:?}"
        );
    }

    #[test]
    fn numbers_keep_their_digits() {
        let text =
            r#"{"a": 12345678901234567.891, "b": "x\"1 2", "c": [1e400, -0.5, true, null], "d":7}"#;
        let v: Value = serde_json::from_str(&quote_numbers(text)).unwrap();
        assert_eq!(v["a"], "12345678901234567.891");
        assert_eq!(v["b"], "x\"1 2");
        assert_eq!(v["c"], serde_json::json!(["1e400", "-0.5", true, null]));
        assert_eq!(v["d"], "7");
    }

    #[test]
    fn xml_becomes_the_same_value_as_json() {
        let xml = "<?xml version=\"1.0\"?><R><A><x>1</x></A><A><x>a&amp;b</x></A><B/><C>  </C></R>";
        let v = xml_to_value(xml).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"R": {"A": [{"x": "1"}, {"x": "a&b"}], "B": null, "C": null}})
        );
        assert!(xml_to_value("<R><A>").is_err());
        assert!(xml_to_value("<R></A>").is_err());
        // Character references read like the named entities; an unknown name is an error.
        let v = xml_to_value("<R><x>a&#38;b&#x3C;c&quot;</x></R>").unwrap();
        assert_eq!(v, serde_json::json!({"R": {"x": "a&b<c\""}}));
        assert!(xml_to_value("<R><x>&nbsp;</x></R>").is_err());
    }
}
