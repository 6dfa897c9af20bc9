//! Security identifiers that a book of record and a broker may both state, for matching the
//! two where their symbols differ (a renamed ticker, a share class spelled another way, a
//! fund the book names by its own code). The key is the CUSIP: the one identifier a US
//! broker states (E*TRADE's `cusip`), and the basic code of every US and Canadian ISIN.
//! The check digits are the `cusip` and `isin` crates' (ANSI X9.6, ISO 6166).

use std::borrow::Cow;

/// The CUSIP a cell names: nine characters whose check digit holds (case and surrounding
/// blanks forgiven), or why not. A cell already written as a CUSIP is returned as it is:
/// a book states one on most of its lines, so the usual case allocates nothing.
pub fn cusip(cell: &str) -> Result<Cow<'_, str>, String> {
    if cusip::CUSIP::parse(cell).is_ok() {
        return Ok(Cow::Borrowed(cell));
    }
    cusip::CUSIP::parse_loose(cell)
        .map(|c| Cow::Owned(c.to_string()))
        .map_err(|e| format!("`{cell}` is not a CUSIP: {e}"))
}

/// The CUSIP inside an ISIN: a US or Canadian ISIN's basic code. `Ok(None)` for a valid
/// ISIN of another country (it carries no CUSIP); an error when the cell is not an ISIN or
/// its check digit is wrong.
pub fn cusip_of_isin(cell: &str) -> Result<Option<Cow<'_, str>>, String> {
    let us_or_ca = |prefix: &str| matches!(prefix, "US" | "CA");
    // A US or CA ISIN's basic code (characters 3 to 11) is the CUSIP with its own check
    // digit; an ISIN written as one is read in place.
    if let Ok(isin) = isin::parse(cell) {
        return match us_or_ca(isin.prefix()) {
            true => cusip(&cell[2..11]).map(Some),
            false => Ok(None),
        };
    }
    let isin = isin::parse_loose(cell).map_err(|e| format!("`{cell}` is not an ISIN: {e}"))?;
    match us_or_ca(isin.prefix()) {
        true => cusip(isin.basic_code()).map(|c| Some(Cow::Owned(c.into_owned()))),
        false => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cusips_are_read_loosely_and_their_check_digit_is_held() {
        assert_eq!(cusip("037833100").as_deref(), Ok("037833100"));
        assert_eq!(cusip(" 594918104 ").as_deref(), Ok("594918104"));
        assert_eq!(cusip("g4412g101").as_deref(), Ok("G4412G101"));
        let wrong = cusip("037833109").unwrap_err();
        assert!(wrong.contains("`037833109` is not a CUSIP"), "{wrong}");
        assert!(cusip("AAPL").is_err());
        assert!(cusip("").is_err());
    }

    #[test]
    fn us_and_canadian_isins_carry_their_cusip_and_others_none() {
        let inside = |cell| cusip_of_isin(cell).map(|c| c.map(Cow::into_owned));
        assert_eq!(inside("US0378331005"), Ok(Some("037833100".to_string())));
        assert_eq!(inside("us5949181045"), Ok(Some("594918104".to_string())));
        // Royal Bank of Canada.
        assert_eq!(inside("CA7800871021"), Ok(Some("780087102".to_string())));
        // A British ISIN carries a SEDOL, not a CUSIP.
        assert_eq!(inside("GB0002634946"), Ok(None));
        assert!(cusip_of_isin("US0378331009").is_err());
        assert!(cusip_of_isin("037833100").is_err());
    }
}
