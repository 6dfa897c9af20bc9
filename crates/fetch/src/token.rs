//! A short-lived access token (tastytrade's bearer token, Architect's JWT) shared by every
//! request of one broker: renewed when less than a minute is left, as the brokers' own SDKs
//! do, and at once when the broker refuses the one in use. Renewals are serialized, so a
//! burst of refusals renews once.

use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A token with less than this left is renewed before use.
pub const RENEW_BEFORE: Duration = Duration::from_secs(60);

struct Token {
    value: SecretString,
    expires: Instant,
}

#[derive(Default)]
pub struct TokenCache {
    slot: Mutex<Option<Token>>,
}

impl TokenCache {
    /// The token to use: the cached one, unless it is missing, near its end, or `stale` (the
    /// one a request was just refused with); then `renew` makes a new one and says how long
    /// it lives.
    pub async fn get<F, Fut, E>(
        &self,
        stale: Option<&SecretString>,
        renew: F,
    ) -> Result<SecretString, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(SecretString, Duration), E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(t) = slot.as_ref() {
            let refused = stale.is_some_and(|s| s.expose_secret() == t.value.expose_secret());
            if !refused && t.expires > Instant::now() + RENEW_BEFORE {
                return Ok(t.value.clone());
            }
        }
        let (value, lifetime) = renew().await?;
        *slot = Some(Token {
            value: value.clone(),
            expires: Instant::now() + lifetime,
        });
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_is_reused_until_refused_or_near_its_end() {
        let cache = TokenCache::default();
        let made = std::sync::atomic::AtomicU32::new(0);
        let renew = |life: u64| {
            let n = made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move {
                Ok::<_, ()>((
                    SecretString::from(format!("t{n}")),
                    Duration::from_secs(life),
                ))
            }
        };
        let a = cache.get(None, || renew(900)).await.unwrap();
        let b = cache.get(None, || renew(900)).await.unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        // Refused: a new one.
        let c = cache.get(Some(&a), || renew(30)).await.unwrap();
        assert_ne!(a.expose_secret(), c.expose_secret());
        // 30 s left is under the minute: renewed before use.
        let d = cache.get(None, || renew(900)).await.unwrap();
        assert_ne!(c.expose_secret(), d.expose_secret());
        // A stale token that is no longer the current one does not renew again.
        let e = cache.get(Some(&c), || renew(900)).await.unwrap();
        assert_eq!(d.expose_secret(), e.expose_secret());
    }
}
