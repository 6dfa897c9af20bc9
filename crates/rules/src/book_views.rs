//! The book-of-record views (DESIGN.md "Views"): what the brokers hold against what the
//! firm's own books hold.
//!
//! - `position_recon`: broker positions ⟗ book positions on (broker, account_id,
//!   instrument_key), lots summed on both sides first. `side` is `both`, `broker_only` or
//!   `book_only`; both quantities (0 on the side that has none), their difference, both
//!   prices and market values, the booked symbol, and `instrument_class` (equity, option,
//!   future, other) for tolerances per class.
//! - `cash_recon`: broker cash ⟗ book cash on (broker, account_id, currency).
//!
//! Only accounts the books cover are compared (an account with any book row): a book of
//! one desk's accounts does not make every other account's positions "unbooked". The
//! instrument key is `recon_model::instrument_key`, the same function the book reader uses,
//! so the two sides cannot spell a contract differently; where both sides state a CUSIP,
//! the CUSIP decides (`cusip_keys`).

use chrono::NaiveDate;
use polars::prelude::*;
use recon_frames::books::BookFrames;
use std::borrow::Cow;

use crate::account_rows::account_runs;
use crate::lot_sums::{BOOK, BROKER, LotSums, SideColumns, gather_either};

/// The book with its accounts named as recon names them: a book row whose account is not
/// one of the broker's account ids but is the name of exactly one (E*TRADE's `accountId`
/// beside its `accountIdKey`, an Architect account's name beside its UUID) is that account.
/// A declared alias (`[books.<name>.accounts]`) was applied when the book was read.
pub fn by_account_name(books: &BookFrames, accounts: &DataFrame) -> PolarsResult<BookFrames> {
    if accounts.height() == 0 || !accounts.schema().contains("account_name") {
        return Ok(books.clone());
    }
    let brokers = accounts.column("broker")?.str()?;
    let ids = accounts.column("account_id")?.str()?;
    let names = accounts.column("account_name")?.str()?;
    let mut known: PlHashSet<(&str, &str)> = PlHashSet::new();
    let mut by_name: PlHashMap<(&str, &str), Option<&str>> = PlHashMap::new();
    for i in 0..accounts.height() {
        let (Some(b), Some(id)) = (brokers.get(i), ids.get(i)) else {
            continue;
        };
        known.insert((b, id));
        if let Some(name) = names.get(i) {
            // A name two accounts share names neither.
            by_name
                .entry((b, name.trim()))
                .and_modify(|v| *v = None)
                .or_insert(Some(id));
        }
    }
    let rename = |df: &DataFrame| -> PolarsResult<DataFrame> {
        if df.height() == 0 {
            return Ok(df.clone());
        }
        let b = df.column("broker")?.str()?;
        let a = df.column("account_id")?.str()?;
        // The usual book names every account by its id: then nothing is renamed.
        let all_known = account_runs(b, a)
            .all(|(pair, _)| matches!(pair, (Some(b), Some(a)) if known.contains(&(b, a))));
        if all_known {
            return Ok(df.clone());
        }
        let renamed: StringChunked = b
            .iter()
            .zip(a.iter())
            .map(|(b, a)| match (b, a) {
                (Some(b), Some(a)) if !known.contains(&(b, a)) => {
                    Some(by_name.get(&(b, a.trim())).copied().flatten().unwrap_or(a))
                }
                (_, a) => a,
            })
            .collect();
        let mut out = df.clone();
        out.with_column(renamed.with_name("account_id".into()).into_column())?;
        Ok(out)
    };
    Ok(BookFrames {
        positions: rename(&books.positions)?,
        cash: rename(&books.cash)?,
        quarantine: books.quarantine.clone(),
    })
}

/// The (broker, account_id) pairs `frames` have rows for.
fn accounts_in(frames: &[&DataFrame]) -> PolarsResult<LazyFrame> {
    let ids = || [col("broker"), col("account_id")];
    let parts: Vec<LazyFrame> = frames
        .iter()
        .map(|f| (*f).clone().lazy().select(ids()))
        .collect();
    Ok(concat(parts, UnionArgs::default())?.unique(None, UniqueKeepStrategy::First))
}

/// The broker's positions with the key of each one's symbol (the book reader's function).
/// A symbol the book spells the same way takes the book's key for it: a book row's key is
/// `instrument_key` of its symbol as of the run's day (`BookPositionRow::instrument_key`), so
/// it is the key this would compute, already computed.
fn with_keys(positions: &DataFrame, book: &DataFrame, as_of: NaiveDate) -> PolarsResult<DataFrame> {
    let symbols = positions.column("symbol")?.str()?;
    let mut booked: PlHashMap<&str, &str> = PlHashMap::with_capacity(book.height());
    if positions.height() > 0 && book.height() > 0 {
        let (s, k) = (
            book.column("symbol")?.str()?,
            book.column("instrument_key")?.str()?,
        );
        booked.extend(s.iter().zip(k.iter()).filter_map(|(s, k)| Some((s?, k?))));
    }
    let keys = recon_frames::books::instrument_keys_knowing(symbols.iter(), as_of, |s| {
        booked.get(s).copied()
    })?;
    let mut out = positions.clone();
    out.with_column(keys.into_column())?;
    Ok(out)
}

/// Broker positions against book positions, lots summed, for the accounts the books cover.
///
/// The two sides are grouped together on the key (`lot_sums`), keeping the order in which
/// keys are first met: the broker's positions in frame order, then what only the books
/// hold, in book order, so the view is the same on every run without sorting it.
pub fn position_recon(
    positions: &DataFrame,
    books: &BookFrames,
    as_of: NaiveDate,
) -> PolarsResult<DataFrame> {
    // Without a book nothing is in scope, and no position is keyed (every check builds this
    // view, most without a book).
    let no_book = books.positions.height() == 0 && books.cash.height() == 0;
    let keyed = if no_book {
        positions.head(Some(0))
    } else {
        positions.clone()
    };
    let broker = with_keys(&keyed, &books.positions, as_of)?;
    let book = match cusip_keys(&broker, &books.positions)? {
        Some(keys) => {
            let mut rekeyed = books.positions.clone();
            rekeyed.with_column(keys)?;
            rekeyed
        }
        None => books.positions.clone(),
    };
    let mut covered: PlHashSet<(&str, &str)> = PlHashSet::new();
    for df in [&books.positions, &books.cash] {
        let (b, a) = (df.column("broker")?.str()?, df.column("account_id")?.str()?);
        covered.extend(account_runs(b, a).filter_map(|((b, a), _)| Some((b?, a?))));
    }
    let broker_side = SideColumns::of(&broker, "mark", None)?;
    let book_side = SideColumns::of(&book, "price", Some("book"))?;
    let mut sums = LotSums::with_capacity(broker.height() + book.height());
    let mut in_scope = (None, false);
    broker_side.each(|account, key, lot| {
        // Rows come account by account: the scope is looked up when the account changes.
        if in_scope.0 != Some(account) {
            let covers = matches!(account, (Some(b), Some(a)) if covered.contains(&(b, a)));
            in_scope = (Some(account), covers);
        }
        if in_scope.1 {
            sums.add(BROKER, account, key, lot);
        }
    })?;
    book_side.each(|account, key, lot| sums.add(BOOK, account, key, lot))?;
    sums.frame(&broker_side, &book_side)
}

/// The book's instrument keys where a CUSIP decides them (`None` when either side states
/// no CUSIP at all, the usual case): a book row whose CUSIP the broker states for one
/// instrument in that account takes that instrument's key, whatever symbol the book wrote
/// (a renamed ticker, the book's own code); a book row whose CUSIP differs from the one the
/// broker states for the instrument its symbol names is another security, keyed by its
/// CUSIP so the two are not matched. Without a CUSIP on both sides the symbol decides.
fn cusip_keys(broker: &DataFrame, book: &DataFrame) -> PolarsResult<Option<Column>> {
    let stated = |df: &DataFrame| {
        df.column("cusip")
            .ok()
            .filter(|c| c.null_count() < c.len())
            .cloned()
    };
    let (Some(broker_cusips), Some(book_cusips)) = (stated(broker), stated(book)) else {
        return Ok(None);
    };
    let text = |df: &DataFrame, name: &str| -> PolarsResult<StringChunked> {
        Ok(df.column(name)?.str()?.clone())
    };
    let (bb, ba, bk) = (
        text(broker, "broker")?,
        text(broker, "account_id")?,
        text(broker, "instrument_key")?,
    );
    let bc = broker_cusips.str()?;
    // `None` where one account's CUSIP is under two keys, or one key under two CUSIPs: such
    // an identifier decides nothing.
    let mut key_of: PlHashMap<(&str, &str, &str), Option<&str>> =
        PlHashMap::with_capacity(broker.height());
    let mut cusip_of: PlHashMap<(&str, &str, &str), Option<&str>> =
        PlHashMap::with_capacity(broker.height());
    fn unique<'a>(seen: &mut Option<&'a str>, this: &'a str) {
        if *seen != Some(this) {
            *seen = None;
        }
    }
    for i in 0..broker.height() {
        let (Some(b), Some(a), Some(k), Some(c)) = (bb.get(i), ba.get(i), bk.get(i), bc.get(i))
        else {
            continue;
        };
        key_of
            .entry((b, a, c))
            .and_modify(|seen| unique(seen, k))
            .or_insert(Some(k));
        cusip_of
            .entry((b, a, k))
            .and_modify(|seen| unique(seen, c))
            .or_insert(Some(c));
    }
    let (kb, ka, kk) = (
        text(book, "broker")?,
        text(book, "account_id")?,
        text(book, "instrument_key")?,
    );
    let kc = book_cusips.str()?;
    // Only the rows a CUSIP rekeys get a string of their own; the rest keep the book's key
    // (shared with it, not copied).
    let rekeyed: Vec<Option<Cow<'_, str>>> = (0..book.height())
        .map(|i| {
            let (Some(b), Some(a), Some(c), Some(key)) =
                (kb.get(i), ka.get(i), kc.get(i), kk.get(i))
            else {
                return None;
            };
            match (key_of.get(&(b, a, c)), cusip_of.get(&(b, a, key))) {
                (Some(Some(broker_key)), _) if *broker_key != key => Some((*broker_key).into()),
                (Some(Some(_)), _) => None,
                (_, Some(Some(broker_cusip))) if *broker_cusip != c => {
                    Some(format!("CUSIP:{c}").into())
                }
                _ => None,
            }
        })
        .collect();
    let new_keys =
        StringChunked::from_iter_values("new".into(), rekeyed.iter().filter_map(|k| k.as_deref()));
    let mut next_new = 0;
    let rows = rekeyed.iter().enumerate().map(|(i, k)| match k {
        None => (Some(i as IdxSize), None),
        Some(_) => {
            next_new += 1;
            (None, Some(next_new - 1))
        }
    });
    gather_either("instrument_key", (&kk, &new_keys), rows).map(Some)
}

/// `both`, `broker_only` or `book_only`, from a column only the broker side fills and one
/// only the book side fills.
fn side(broker_marker: &str, book_marker: &str) -> Expr {
    let (on_broker, in_book) = (
        col(broker_marker).is_not_null(),
        col(book_marker).is_not_null(),
    );
    when(on_broker.clone().and(in_book))
        .then(lit("both"))
        .when(on_broker)
        .then(lit("broker_only"))
        .otherwise(lit("book_only"))
        .alias("side")
}

/// Broker cash against book cash, per account and currency, for accounts whose cash the
/// book states.
pub fn cash_recon(balances: &DataFrame, books: &BookFrames) -> PolarsResult<DataFrame> {
    let keys = || [col("broker"), col("account_id"), col("currency")];
    let ids = [col("broker"), col("account_id")];
    let broker = balances
        .clone()
        .lazy()
        .join(
            accounts_in(&[&books.cash])?,
            ids.clone(),
            ids,
            JoinArgs::new(JoinType::Semi),
        )
        .select([
            col("broker"),
            col("account_id"),
            col("currency"),
            col("cash").alias("broker_cash"),
            lit(true).alias("__broker"),
        ]);
    let book = books.cash.clone().lazy().group_by(keys()).agg([
        col("amount").sum().alias("book_cash"),
        col("book").first().alias("book"),
    ]);
    broker
        .join(
            book,
            keys(),
            keys(),
            JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
        )
        .with_columns([side("__broker", "book")])
        .with_columns([(col("broker_cash") - col("book_cash")).alias("cash_diff")])
        .drop(by_name(["__broker"], true, false))
        .sort(
            ["broker", "account_id", "currency"],
            SortMultipleOptions::default(),
        )
        .collect()
}

/// The book of record dealt out to chunks of accounts (DESIGN.md "Scale"): each chunk gets
/// the book rows of its own accounts, so a chunk's `position_recon` and `cash_recon` are the
/// whole book's rows for those accounts; what no chunk claims (accounts no broker has) and
/// the book's quarantine come last, on their own.
///
/// A row is claimed by account id when the id is one of the snapshot's accounts at that
/// broker, else by the name of one account of the chunk (as `by_account_name` renames it).
/// A name two accounts share names neither when both are in one chunk; across chunks, the
/// first chunk to meet it claims the row (the accounts' names are only known once read).
pub struct BookChunks {
    books: BookFrames,
    positions: std::collections::HashMap<(String, String), Vec<IdxSize>>,
    cash: std::collections::HashMap<(String, String), Vec<IdxSize>>,
    known: std::collections::HashSet<(String, String)>,
    claimed: std::collections::HashSet<(String, String)>,
}

impl BookChunks {
    /// `known`: every (broker, account_id) of the snapshot, read or not.
    pub fn new(
        books: BookFrames,
        known: impl IntoIterator<Item = (String, String)>,
    ) -> PolarsResult<BookChunks> {
        Ok(BookChunks {
            positions: rows_by_account(&books.positions)?,
            cash: rows_by_account(&books.cash)?,
            books,
            known: known.into_iter().collect(),
            claimed: Default::default(),
        })
    }

    /// The book rows of one chunk: `ids` are its (broker, account_id) pairs, `names` its
    /// accounts' (broker, account_name) pairs. The rows keep the book's order.
    pub fn claim(
        &mut self,
        ids: &[(&str, &str)],
        names: &[(&str, &str)],
    ) -> PolarsResult<BookFrames> {
        let mut keys: Vec<(String, String)> = ids
            .iter()
            .map(|(b, a)| (b.to_string(), a.to_string()))
            .collect();
        let mut seen: std::collections::HashMap<(&str, &str), usize> = Default::default();
        for (b, name) in names {
            *seen.entry((b, name.trim())).or_default() += 1;
        }
        for ((b, name), count) in seen {
            let key = (b.to_string(), name.to_string());
            // A name two accounts share names neither (as `by_account_name`).
            if count == 1 && !self.known.contains(&key) {
                keys.push(key);
            }
        }
        let keys: Vec<(String, String)> = keys
            .into_iter()
            .filter(|k| self.claimed.insert(k.clone()))
            .collect();
        Ok(BookFrames {
            positions: take_rows(&self.books.positions, &self.positions, &keys)?,
            cash: take_rows(&self.books.cash, &self.cash, &keys)?,
            quarantine: self.books.quarantine.clear(),
        })
    }

    /// What no chunk claimed, and the book's quarantine: compared with no broker rows, so
    /// every position is `book_only`.
    pub fn rest(self) -> PolarsResult<BookFrames> {
        let unclaimed = |index: &std::collections::HashMap<(String, String), Vec<IdxSize>>| {
            index
                .keys()
                .filter(|k| !self.claimed.contains(*k))
                .cloned()
                .collect::<Vec<_>>()
        };
        Ok(BookFrames {
            positions: take_rows(
                &self.books.positions,
                &self.positions,
                &unclaimed(&self.positions),
            )?,
            cash: take_rows(&self.books.cash, &self.cash, &unclaimed(&self.cash))?,
            quarantine: self.books.quarantine,
        })
    }

    /// The book's size in memory, which the chunks' budget leaves aside.
    pub fn estimated_size(&self) -> usize {
        self.books.positions.estimated_size()
            + self.books.cash.estimated_size()
            + self.books.quarantine.estimated_size()
    }
}

/// Row numbers of `df` by (broker, account_id). A book lists an account's rows together,
/// so the account is looked up (and its key allocated) only when it changes.
fn rows_by_account(
    df: &DataFrame,
) -> PolarsResult<std::collections::HashMap<(String, String), Vec<IdxSize>>> {
    let mut index: std::collections::HashMap<(String, String), Vec<IdxSize>> = Default::default();
    if df.height() == 0 {
        return Ok(index);
    }
    let brokers = df.column("broker")?.str()?;
    let accounts = df.column("account_id")?.str()?;
    let mut run: Option<((&str, &str), Vec<IdxSize>)> = None;
    let mut close = |run: Option<((&str, &str), Vec<IdxSize>)>| {
        if let Some(((b, a), rows)) = run {
            index
                .entry((b.to_string(), a.to_string()))
                .or_default()
                .extend(rows);
        }
    };
    for (i, (b, a)) in brokers.iter().zip(accounts.iter()).enumerate() {
        let key = (b.unwrap_or_default(), a.unwrap_or_default());
        match &mut run {
            Some((current, rows)) if *current == key => rows.push(i as IdxSize),
            _ => close(run.replace((key, vec![i as IdxSize]))),
        }
    }
    close(run);
    Ok(index)
}

/// The rows of `df` under `keys`, in `df`'s order.
fn take_rows(
    df: &DataFrame,
    index: &std::collections::HashMap<(String, String), Vec<IdxSize>>,
    keys: &[(String, String)],
) -> PolarsResult<DataFrame> {
    let mut rows: Vec<IdxSize> = keys
        .iter()
        .filter_map(|k| index.get(k))
        .flatten()
        .copied()
        .collect();
    rows.sort_unstable();
    df.take(&IdxCa::from_vec("rows".into(), rows))
}
