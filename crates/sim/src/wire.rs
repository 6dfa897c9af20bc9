//! Wire helpers every broker module shares: exact JSON numbers and decimal strings (never a
//! binary float on the way out), JSON answers, and stable ids derived from what they name,
//! so the same book gives byte-identical responses on every run.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;

/// A JSON number written exactly as the decimal reads.
pub struct Num(pub Decimal);

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.0.normalize().to_string())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// A decimal as a JSON string (`"152.30"`), with at least `min_dp` decimals as brokers
/// that send money as strings write it.
pub fn dec_str(d: Decimal, min_dp: u32) -> String {
    let n = d.normalize();
    if n.scale() < min_dp {
        let mut padded = n;
        padded.rescale(min_dp);
        padded.to_string()
    } else {
        n.to_string()
    }
}

/// A 200 JSON answer.
pub fn json<T: Serialize>(body: &T) -> Response {
    json_status(StatusCode::OK, body)
}

/// A JSON answer with `status`.
pub fn json_status<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            bytes,
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            r#"{"error":"Internal Server Error"}"#,
        )
            .into_response(),
    }
}

/// FNV-1a: a stable 64-bit hash (std's hasher is randomly seeded per process).
pub fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A UUID-shaped id that is always the same for the same `parts`.
pub fn stable_uuid(parts: &[&str]) -> String {
    let a = stable_hash(parts);
    let b = stable_hash(&[&a.to_string()]);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// base64url without padding, for page tokens.
pub fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The inverse of [`base64url`]; `None` for anything else.
pub fn from_base64url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn decimal_strings_keep_cents() {
        assert_eq!(dec_str(dec!(5), 2), "5.00");
        assert_eq!(dec_str(dec!(-1.5), 2), "-1.50");
        assert_eq!(dec_str(dec!(0.12345), 2), "0.12345");
    }

    #[test]
    fn base64url_round_trips() {
        for s in [
            "",
            "a",
            "ab",
            "abc",
            "offset=1000",
            "page=2&last_symbol=TSLA",
        ] {
            let enc = base64url(s.as_bytes());
            assert_eq!(from_base64url(&enc).unwrap(), s.as_bytes(), "{enc}");
        }
        assert_eq!(base64url(b"page=2"), "cGFnZT0y");
        assert!(from_base64url("!!").is_none());
    }

    #[test]
    fn stable_ids_are_stable_and_distinct() {
        assert_eq!(stable_uuid(&["a", "b"]), stable_uuid(&["a", "b"]));
        assert_ne!(stable_uuid(&["a", "b"]), stable_uuid(&["ab"]));
        assert_eq!(stable_uuid(&["x"]).len(), 36);
    }
}
