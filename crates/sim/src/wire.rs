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
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The inverse of [`base64url`]; `None` for anything else.
pub fn from_base64url(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::new();
    for chunk in text.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
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
