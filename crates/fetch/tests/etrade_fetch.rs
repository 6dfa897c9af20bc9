//! The E*TRADE connector against the simulator, over real HTTP on loopback: every request
//! signed, and the simulator checks each signature as E*TRADE does.

mod common;

use common::*;
use recon_fetch::FetchOptions;
use recon_model::Broker;
use recon_model::manifest::{FetchStatus, Manifest};
use recon_sim::{Faults, SimBook, SimCredentials, SimOptions, etrade, start};

async fn fetch(
    options: SimOptions,
    token_secret: Option<&str>,
) -> (recon_sim::RunningSim, tempfile::TempDir, Manifest) {
    let book = SimBook::demo();
    let sim = start(book.clone(), SimCredentials::random(), options)
        .await
        .unwrap();
    let replace: Vec<(&str, &str)> = token_secret
        .map(|s| ("access_token_secret", s))
        .into_iter()
        .collect();
    let conn = sim_connector(
        &sim,
        Broker::Etrade,
        None,
        FetchOptions::default(),
        &replace,
    );
    let (dir, manifest) = fetch_into(&[conn], book.as_of).await;
    (sim, dir, manifest)
}

fn small_pages(paging_loop: bool) -> SimOptions {
    SimOptions {
        etrade: etrade::Dialect {
            page_size_cap: Some(1),
            paging_loop,
        },
        ..SimOptions::default()
    }
}

#[tokio::test]
async fn every_account_and_page_is_fetched_and_no_secret_is_stored() {
    let (sim, dir, manifest) = fetch(small_pages(false), None).await;
    let et = &manifest.brokers["etrade"];
    assert_eq!(et.status, FetchStatus::Complete, "{:?}", et.errors);
    assert_eq!(et.accounts.len(), 3);
    let root = dir.path();
    assert!(
        root.join("etrade/vQMsebA1H5WltUfDkJP4yA/portfolio.0002.json")
            .is_file()
    );
    assert!(
        !root
            .join("etrade/vQMsebA1H5WltUfDkJP4yA/portfolio.0003.json")
            .exists()
    );
    assert!(
        root.join("etrade/vQMsebA1H5WltUfDkJP4yA/balance.json")
            .is_file()
    );
    let balance = et
        .requests
        .as_ref()
        .unwrap()
        .iter()
        .find(|r| r.path.ends_with("/balance.json"))
        .unwrap();
    assert_eq!(
        balance.query.as_deref(),
        Some("instType=BROKERAGE&realTimeNAV=true")
    );
    let c = &etrade::Credentials::from_sim(&sim.credentials);
    for file in walk(root) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for s in [
            &c.consumer_key,
            &c.consumer_secret,
            &c.access_token,
            &c.access_token_secret,
        ] {
            assert!(!text.contains(s.as_str()), "{}", file.display());
        }
        assert!(!text.contains("oauth_signature"), "{}", file.display());
    }
}

#[tokio::test]
async fn a_repeated_page_number_is_a_paging_loop() {
    let (_sim, _dir, manifest) = fetch(small_pages(true), None).await;
    let et = &manifest.brokers["etrade"];
    assert_eq!(et.status, FetchStatus::Partial);
    let looped: Vec<_> = et
        .errors
        .iter()
        .filter(|e| e.error.contains("paging loop"))
        .collect();
    // Only the account with more than one position pages.
    assert_eq!(looped.len(), 1, "{:?}", et.errors);
    assert_eq!(looped[0].endpoint, "portfolio");
}

#[tokio::test]
async fn a_wrong_token_secret_fails_once_with_the_oauth_problem() {
    let (_sim, _dir, manifest) = fetch(SimOptions::default(), Some("wrong")).await;
    let et = &manifest.brokers["etrade"];
    assert_eq!(et.status, FetchStatus::Failed);
    let e = &et.errors[0].error;
    assert!(
        e.contains("signature_invalid") && e.contains("renew"),
        "{e}"
    );
    assert_eq!(et.requests.as_ref().unwrap()[0].attempts, 1);
}

#[tokio::test]
async fn signing_survives_the_flaky_profile() {
    let options = SimOptions {
        faults: Faults::profile("flaky").unwrap(),
        ..SimOptions::default()
    };
    let book = SimBook::demo();
    let sim = start(book.clone(), SimCredentials::random(), options)
        .await
        .unwrap();
    let quick = FetchOptions {
        retry: recon_fetch::RetryPolicy {
            retries: 3,
            min_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_secs(2),
        },
        ..FetchOptions::default()
    };
    let conn = sim_connector(&sim, Broker::Etrade, None, quick, &[]);
    let (_dir, manifest) = fetch_into(&[conn], book.as_of).await;
    let et = &manifest.brokers["etrade"];
    // Each retry is signed anew (fresh nonce and timestamp) and accepted.
    assert_eq!(et.status, FetchStatus::Complete, "{:?}", et.errors);
    assert!(
        et.requests
            .as_ref()
            .unwrap()
            .iter()
            .all(|r| r.attempts == 4)
    );
}
