//! The TradeZero connector against the simulator, over real HTTP on loopback.

mod common;

use common::walk;
use recon_fetch::tradezero::{Credentials, TradeZero};
use recon_fetch::{Connector, FetchOptions, SnapshotWriter, fetch_all};
use recon_model::Broker;
use recon_model::manifest::FetchStatus;
use recon_sim::{SimBook, SimCredentials, SimOptions, start};
use secrecy::SecretString;

fn tradezero(url: &str, key: &str, secret: &str, options: FetchOptions) -> Box<dyn Connector> {
    let credentials = Credentials {
        api_key_id: SecretString::from(key),
        api_secret_key: SecretString::from(secret),
    };
    Box::new(TradeZero::new(url, credentials, options).unwrap())
}

fn connector(sim: &recon_sim::RunningSim, options: FetchOptions) -> Box<dyn Connector> {
    let c = &recon_sim::tradezero::Credentials::from_sim(&sim.credentials);
    let url = sim.url(Broker::Tradezero).unwrap();
    tradezero(url, &c.api_key_id, &c.api_secret_key, options)
}

/// The demo book, and the simulator serving it with `options`.
async fn demo_sim(options: SimOptions) -> (SimBook, recon_sim::RunningSim) {
    let book = SimBook::demo();
    let sim = start(book.clone(), SimCredentials::random(), options)
        .await
        .unwrap();
    (book, sim)
}

#[tokio::test]
async fn fetches_every_account_and_endpoint_and_leaks_no_credential() {
    let (book, sim) = demo_sim(SimOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path().join("snapshot")).unwrap();
    let manifest = fetch_all(
        &[connector(&sim, FetchOptions::default())],
        &out,
        book.as_of,
    )
    .await
    .unwrap();

    let tz = &manifest.brokers["tradezero"];
    assert_eq!(tz.status, FetchStatus::Complete, "{:?}", tz.errors);
    let want: Vec<String> = book
        .accounts_of(Broker::Tradezero)
        .map(|a| a.id.clone())
        .collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(tz.accounts, want_sorted);
    let requests = tz.requests.as_ref().unwrap();
    assert_eq!(requests.len(), 1 + 3 * want.len());
    assert!(
        requests
            .iter()
            .all(|r| r.status == Some(200) && r.file.is_some())
    );

    for id in &want {
        for endpoint in ["account", "positions", "pnl"] {
            let path = out.root().join(format!("tradezero/{id}/{endpoint}.json"));
            assert!(path.is_file(), "{}", path.display());
        }
    }

    // Bodies are stored byte for byte: the file equals what the broker sends.
    let first = &want[0];
    let direct = reqwest::Client::new()
        .get(format!(
            "{}/v1/api/accounts/{first}/positions",
            sim.url(Broker::Tradezero).unwrap()
        ))
        .header(
            "TZ-API-KEY-ID",
            sim.credentials.get(Broker::Tradezero, "api_key_id"),
        )
        .header(
            "TZ-API-SECRET-KEY",
            sim.credentials.get(Broker::Tradezero, "api_secret_key"),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let stored =
        std::fs::read(out.root().join(format!("tradezero/{first}/positions.json"))).unwrap();
    assert_eq!(stored, direct.to_vec());

    // No credential anywhere on disk.
    let secrets = [
        sim.credentials.get(Broker::Tradezero, "api_key_id"),
        sim.credentials.get(Broker::Tradezero, "api_secret_key"),
    ];
    for file in walk(out.root()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for s in secrets {
            assert!(!text.contains(s), "{} holds a credential", file.display());
        }
    }
}

#[tokio::test]
async fn bad_credentials_fail_the_broker_with_a_reason() {
    let (book, sim) = demo_sim(SimOptions::default()).await;
    let bad = tradezero(
        sim.url(Broker::Tradezero).unwrap(),
        "nope",
        "nope",
        FetchOptions::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(&[bad], &out, book.as_of).await.unwrap();
    let tz = &manifest.brokers["tradezero"];
    assert_eq!(tz.status, FetchStatus::Failed);
    assert_eq!(tz.errors.len(), 1);
    assert!(tz.errors[0].account.is_none());
    assert!(tz.errors[0].error.contains("404"), "{}", tz.errors[0].error);
    assert!(tz.accounts.is_empty());
    // A 404 is never retried: bad credentials are not hammered.
    let requests = tz.requests.as_ref().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].status, requests[0].attempts), (Some(404), 1));
}

#[tokio::test]
async fn the_allow_list_limits_accounts_and_reports_missing_ones() {
    let (book, sim) = demo_sim(SimOptions::default()).await;
    let options = FetchOptions {
        accounts: Some(vec!["tz10000002".into(), "TZ404".into()]),
        ..FetchOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(&[connector(&sim, options)], &out, book.as_of)
        .await
        .unwrap();
    let tz = &manifest.brokers["tradezero"];
    assert_eq!(tz.accounts, vec!["TZ10000002"]);
    assert_eq!(tz.status, FetchStatus::Partial);
    assert_eq!(tz.errors.len(), 1);
    assert_eq!(tz.errors[0].account.as_deref(), Some("TZ404"));
}

#[tokio::test]
async fn an_unreachable_broker_is_recorded_not_fatal() {
    // A port nothing listens on: port 1 (tcpmux), which no test binds. (A port freed by
    // dropping a listener can be taken at once by a simulator another test starts: this
    // test then met an E*TRADE 404 instead of a refused connection.)
    let url = "http://127.0.0.1:1".to_string();
    let c = tradezero(&url, "k", "s", FetchOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(
        &[c],
        &out,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
    )
    .await
    .unwrap();
    let tz = &manifest.brokers["tradezero"];
    assert_eq!(tz.status, FetchStatus::Failed);
    assert!(
        tz.errors[0].error.contains("connect"),
        "{}",
        tz.errors[0].error
    );
    assert!(out.root().join("manifest.json").is_file());
}

mod resilience {
    use super::*;
    use recon_fetch::RetryPolicy;
    use recon_sim::Faults;
    use std::time::{Duration, Instant};

    fn quick(retries: usize) -> FetchOptions {
        FetchOptions {
            retry: RetryPolicy {
                retries,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_secs(5),
            },
            ..FetchOptions::default()
        }
    }

    async fn fetch_with(
        faults: Faults,
        options: FetchOptions,
    ) -> (
        recon_model::manifest::BrokerManifest,
        tempfile::TempDir,
        Duration,
    ) {
        let (book, sim) = demo_sim(SimOptions {
            faults,
            ..SimOptions::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let out = SnapshotWriter::create(dir.path()).unwrap();
        let started = Instant::now();
        let manifest = fetch_all(&[connector(&sim, options)], &out, book.as_of)
            .await
            .unwrap();
        let elapsed = started.elapsed();
        (manifest.brokers["tradezero"].clone(), dir, elapsed)
    }

    #[tokio::test]
    async fn a_flaky_broker_is_fetched_whole_after_retries() {
        // Each path: 503, then 429, then a body cut in half, then the real answer.
        let faults = Faults {
            fail_first: 1,
            throttle_first: 1,
            retry_after_secs: 0,
            truncate_first: 1,
            ..Faults::default()
        };
        let (tz, dir, _) = fetch_with(faults, quick(3)).await;
        assert_eq!(tz.status, FetchStatus::Complete, "{:?}", tz.errors);
        let requests = tz.requests.unwrap();
        assert!(
            requests
                .iter()
                .all(|r| r.attempts == 4 && r.status == Some(200)),
            "{requests:?}"
        );
        // What was stored is the whole body, not the half the broker first sent.
        for r in &requests {
            let body = std::fs::read(dir.path().join(r.file.as_ref().unwrap())).unwrap();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap();
        }
    }

    #[tokio::test]
    async fn requests_per_second_is_a_ceiling() {
        // 16 requests at 8 a second (a burst of 8, then one every 125 ms): at least 1 s.
        let options = FetchOptions {
            requests_per_second: Some(8),
            ..quick(0)
        };
        let (tz, _, elapsed) = fetch_with(Faults::default(), options).await;
        assert_eq!(tz.status, FetchStatus::Complete);
        assert_eq!(tz.requests.unwrap().len(), 16);
        assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    }

    #[tokio::test]
    async fn the_overall_deadline_ends_a_slow_fetch_and_says_what_is_missing() {
        // 200 ms an answer, one at a time: 16 requests need 3.2 s; the deadline is 1 s.
        let faults = Faults {
            latency: Duration::from_millis(200),
            ..Faults::default()
        };
        let options = FetchOptions {
            concurrency: 1,
            deadline: Some(Duration::from_secs(1)),
            ..quick(3)
        };
        let (tz, _, elapsed) = fetch_with(faults, options).await;
        assert_eq!(tz.status, FetchStatus::Partial);
        // Without the deadline this takes at least 3.2 s.
        assert!(elapsed < Duration::from_millis(2600), "{elapsed:?}");
        let requests = tz.requests.unwrap();
        let skipped: Vec<_> = requests.iter().filter(|r| r.attempts == 0).collect();
        assert!(!skipped.is_empty() && skipped.len() < 16, "{requests:?}");
        assert!(
            skipped
                .iter()
                .all(|r| r.error.as_deref().unwrap_or("").contains("deadline"))
        );
        // Every request not made is an error naming its account and endpoint.
        assert_eq!(tz.errors.len(), skipped.len());
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let faults = Faults {
            throttle_first: 1,
            retry_after_secs: 1,
            ..Faults::default()
        };
        let (tz, _, elapsed) = fetch_with(faults, quick(2)).await;
        assert_eq!(tz.status, FetchStatus::Complete, "{:?}", tz.errors);
        // The account list waits 1 s, then each account's endpoints wait 1 s.
        assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    }

    #[tokio::test]
    async fn retries_stop_at_their_bound_and_the_account_is_reported() {
        let faults = Faults {
            always_fail: vec!["/accounts/TZ10000002/positions".into()],
            ..Faults::default()
        };
        let (tz, _, elapsed) = fetch_with(faults, quick(2)).await;
        assert_eq!(tz.status, FetchStatus::Partial);
        assert_eq!(tz.errors.len(), 1, "{:?}", tz.errors);
        let e = &tz.errors[0];
        assert_eq!(
            (e.account.as_deref(), e.endpoint.as_str()),
            (Some("TZ10000002"), "positions")
        );
        assert!(e.error.contains("HTTP 500"), "{}", e.error);
        let failed = tz
            .requests
            .unwrap()
            .into_iter()
            .find(|r| r.path.ends_with("TZ10000002/positions"))
            .unwrap();
        assert_eq!(failed.attempts, 3);
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }
}
