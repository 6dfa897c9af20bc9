//! Matching positions to rows of a separate P&L feed, in TradeZero's documented order:
//! `position_id` first, then the traded (OCC) symbol, then the plain symbol (the root, for
//! options). Each P&L row is matched at most once, so two lots of one symbol never share a
//! P&L row. normalize uses the match to derive marks, and the rules crate's `position_view`
//! uses the same function, so the two can never disagree.

use std::collections::HashMap;

/// How a position found its P&L row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    PositionId,
    Symbol,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::PositionId => "position_id",
            MatchKind::Symbol => "symbol",
        }
    }
}

/// The keys of a position, within one broker account.
#[derive(Debug, Clone, Copy)]
pub struct PositionKeys<'a> {
    pub position_id: &'a str,
    /// Canonical symbol: the compact OCC form for options.
    pub symbol: &'a str,
    /// The root for options; equal to `symbol` for stocks.
    pub underlying: &'a str,
}

/// The keys of a P&L row, within the same broker account.
#[derive(Debug, Clone, Copy)]
pub struct PnlKeys<'a> {
    pub position_id: Option<&'a str>,
    pub symbol: &'a str,
}

/// For each position (same order), the index of its P&L row and how it matched.
pub fn match_pnl(
    positions: &[PositionKeys<'_>],
    pnl: &[PnlKeys<'_>],
) -> Vec<Option<(usize, MatchKind)>> {
    let mut taken = vec![false; pnl.len()];
    let mut out: Vec<Option<(usize, MatchKind)>> = vec![None; positions.len()];

    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_symbol: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, row) in pnl.iter().enumerate() {
        if let Some(id) = row.position_id.filter(|id| !id.is_empty()) {
            by_id.entry(id).or_default().push(i);
        }
        by_symbol.entry(row.symbol).or_default().push(i);
    }

    // Each pass only looks at positions the earlier passes left unmatched, so an exact id
    // match always wins over a symbol match made for another lot.
    let take = |candidates: Option<&Vec<usize>>, taken: &mut Vec<bool>| -> Option<usize> {
        let i = *candidates?.iter().find(|&&i| !taken[i])?;
        taken[i] = true;
        Some(i)
    };
    for (p, pos) in positions.iter().enumerate() {
        if let Some(i) = take(by_id.get(pos.position_id), &mut taken) {
            out[p] = Some((i, MatchKind::PositionId));
        }
    }
    for (p, pos) in positions.iter().enumerate() {
        if out[p].is_none()
            && let Some(i) = take(by_symbol.get(pos.symbol), &mut taken)
        {
            out[p] = Some((i, MatchKind::Symbol));
        }
    }
    for (p, pos) in positions.iter().enumerate() {
        if out[p].is_none()
            && pos.underlying != pos.symbol
            && let Some(i) = take(by_symbol.get(pos.underlying), &mut taken)
        {
            out[p] = Some((i, MatchKind::Symbol));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos<'a>(id: &'a str, symbol: &'a str, underlying: &'a str) -> PositionKeys<'a> {
        PositionKeys {
            position_id: id,
            symbol,
            underlying,
        }
    }
    fn pnl<'a>(id: Option<&'a str>, symbol: &'a str) -> PnlKeys<'a> {
        PnlKeys {
            position_id: id,
            symbol,
        }
    }

    #[test]
    fn id_then_occ_then_symbol() {
        let positions = [
            pos("1", "AAPL", "AAPL"),
            pos("2", "QQQ260514C00703000", "QQQ"),
            pos("3", "NVDA", "NVDA"),
            pos("4", "SPY261218P00500000", "SPY"),
        ];
        let rows = [
            pnl(Some("x"), "NVDA"),
            pnl(Some("1"), "AAPL"),
            pnl(None, "QQQ260514C00703000"),
            pnl(Some("y"), "SPY"),
        ];
        let m = match_pnl(&positions, &rows);
        assert_eq!(m[0], Some((1, MatchKind::PositionId)));
        assert_eq!(m[1], Some((2, MatchKind::Symbol)));
        assert_eq!(m[2], Some((0, MatchKind::Symbol)));
        assert_eq!(m[3], Some((3, MatchKind::Symbol)));
    }

    #[test]
    fn a_pnl_row_is_matched_once() {
        // Two NVDA lots, one P&L row that names neither id: only the first lot gets it.
        let positions = [pos("1", "NVDA", "NVDA"), pos("2", "NVDA", "NVDA")];
        let rows = [pnl(Some("9"), "NVDA")];
        assert_eq!(
            match_pnl(&positions, &rows),
            vec![Some((0, MatchKind::Symbol)), None]
        );
    }

    #[test]
    fn an_id_match_is_not_stolen_by_an_earlier_symbol_match() {
        // Lot 1 has no P&L row of its own; lot 2's row must stay with lot 2.
        let positions = [pos("1", "NVDA", "NVDA"), pos("2", "NVDA", "NVDA")];
        let rows = [pnl(Some("2"), "NVDA")];
        assert_eq!(
            match_pnl(&positions, &rows),
            vec![None, Some((0, MatchKind::PositionId))]
        );
    }
}
