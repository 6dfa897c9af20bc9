//! Which row of `accounts` each row of another frame belongs to, by (broker, account_id).
//!
//! The views attach each position and P&L row to its account, and sum positions per
//! account. As joins and a group-by on the two string keys, polars encoded and hashed the
//! keys of every row (~3 % of a 10,000-account check). A chunk's rows come account by
//! account, so a row's account is nearly always the row before's: a compare of two short
//! strings finds it, and the accounts' map is looked up only when it changes. The views
//! then take the account's columns by row number, and group by that number.
//!
//! Only where a key names one account row: with two rows of the same key (which a snapshot
//! does not make) a join gives each position to both, and the views keep the join for it.

use polars::prelude::*;
use recon_frames::Frames;

type Key<'a> = (&'a str, &'a str);

/// The accounts' row numbers by key.
pub(crate) struct AccountRows<'a> {
    by_key: PlHashMap<Key<'a>, IdxSize>,
}

impl<'a> AccountRows<'a> {
    /// `None` when two rows of `accounts` have the same key. A row with a null key is
    /// nobody's account, as in a join.
    pub(crate) fn new(accounts: &'a DataFrame) -> PolarsResult<Option<Self>> {
        let (brokers, ids) = keys_of(accounts)?;
        let mut by_key = PlHashMap::with_capacity(accounts.height());
        for (row, key) in brokers.iter().zip(ids.iter()).enumerate() {
            if let (Some(broker), Some(id)) = key
                && by_key.insert((broker, id), row as IdxSize).is_some()
            {
                return Ok(None);
            }
        }
        Ok(Some(AccountRows { by_key }))
    }

    /// Per row of `frame` (which has `broker` and `account_id`), its account's row in
    /// `accounts`; null where none has its key.
    pub(crate) fn of(&self, frame: &DataFrame, name: &str) -> PolarsResult<IdxCa> {
        let (brokers, ids) = keys_of(frame)?;
        let rows = account_runs(brokers, ids).flat_map(|((b, a), run)| {
            let row = b.zip(a).and_then(|key| self.by_key.get(&key).copied());
            std::iter::repeat_n(row, run.len())
        });
        Ok(IdxCa::from_iter_options(name.into(), rows))
    }
}

/// Each position's and P&L row's account row number (`AccountRows::of`), found once for
/// every view that needs them.
pub(crate) struct AccountNumbers {
    pub(crate) positions: IdxCa,
    pub(crate) pnl: IdxCa,
}

impl AccountNumbers {
    /// `None` where a key names two account rows (`AccountRows::new`).
    pub(crate) fn of(frames: &Frames, name: &str) -> PolarsResult<Option<AccountNumbers>> {
        let Some(rows) = AccountRows::new(&frames.accounts)? else {
            return Ok(None);
        };
        Ok(Some(AccountNumbers {
            positions: rows.of(&frames.positions, name)?,
            pnl: rows.of(&frames.pnl, name)?,
        }))
    }
}

/// A (broker, account_id) pair as a frame holds it (either may be null).
pub(crate) type Account<'a> = (Option<&'a str>, Option<&'a str>);

/// Each run of consecutive rows of one account, with its rows: a chunk's or a book's rows
/// come account by account, so whoever needs a row's account looks it up once per run.
pub(crate) fn account_runs<'a>(
    brokers: &'a StringChunked,
    accounts: &'a StringChunked,
) -> impl Iterator<Item = (Account<'a>, std::ops::Range<usize>)> + 'a {
    let mut keys = brokers.iter().zip(accounts.iter()).enumerate().peekable();
    std::iter::from_fn(move || {
        let (start, key) = keys.next()?;
        let mut end = start + 1;
        while keys.next_if(|(_, next)| *next == key).is_some() {
            end += 1;
        }
        Some((key, start..end))
    })
}

fn keys_of(frame: &DataFrame) -> PolarsResult<(&StringChunked, &StringChunked)> {
    Ok((
        frame.column("broker")?.str()?,
        frame.column("account_id")?.str()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(keys: &[(Option<&str>, Option<&str>)]) -> DataFrame {
        df!(
            "broker" => keys.iter().map(|k| k.0).collect::<Vec<_>>(),
            "account_id" => keys.iter().map(|k| k.1).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn rows_find_their_account_whether_or_not_the_row_before_had_it() {
        let accounts = frame(&[
            (Some("tastytrade"), Some("A")),
            (Some("etrade"), Some("A")),
            (Some("etrade"), None),
        ]);
        let rows = AccountRows::new(&accounts).unwrap().unwrap();
        let positions = frame(&[
            (Some("etrade"), Some("A")),
            (Some("etrade"), Some("A")),
            (Some("tastytrade"), Some("A")),
            (Some("etrade"), Some("B")),
            (Some("etrade"), None),
            (None, Some("A")),
            (Some("etrade"), Some("A")),
        ]);
        let got: Vec<Option<IdxSize>> = rows.of(&positions, "n").unwrap().iter().collect();
        assert_eq!(got, [Some(1), Some(1), Some(0), None, None, None, Some(1)]);
    }

    #[test]
    fn runs_are_consecutive_rows_of_one_account_nulls_included() {
        let rows = frame(&[
            (Some("etrade"), Some("A")),
            (Some("etrade"), Some("A")),
            (Some("tastytrade"), Some("A")),
            (None, Some("A")),
            (None, Some("A")),
            (Some("etrade"), Some("A")),
        ]);
        let (b, a) = keys_of(&rows).unwrap();
        let runs: Vec<_> = account_runs(b, a).collect();
        assert_eq!(
            runs,
            [
                ((Some("etrade"), Some("A")), 0..2),
                ((Some("tastytrade"), Some("A")), 2..3),
                ((None, Some("A")), 3..5),
                ((Some("etrade"), Some("A")), 5..6),
            ]
        );
        assert_eq!(account_runs(b, a).count(), 4);
        let empty = frame(&[]);
        let (b, a) = keys_of(&empty).unwrap();
        assert_eq!(account_runs(b, a).count(), 0);
    }

    #[test]
    fn a_key_on_two_account_rows_leaves_the_join_to_polars() {
        let accounts = frame(&[
            (Some("etrade"), Some("A")),
            (Some("etrade"), Some("B")),
            (Some("etrade"), Some("A")),
        ]);
        assert!(AccountRows::new(&accounts).unwrap().is_none());
    }
}
