//! The Clear Street connector against the simulator, over real HTTP on loopback.

mod common;

use common::*;
use recon_fetch::{Connector, FetchOptions, SnapshotWriter, fetch_all};
use recon_model::Broker;
use recon_model::manifest::FetchStatus;
use recon_sim::{Faults, SimBook, SimCredentials, SimOptions, clearstreet, start};

fn connector(sim: &recon_sim::RunningSim, options: FetchOptions) -> Box<dyn Connector> {
    sim_connector(sim, Broker::Clearstreet, None, options, &[])
}

fn small_pages() -> SimOptions {
    SimOptions {
        clearstreet: clearstreet::Dialect {
            page_size_cap: Some(2),
            ..Default::default()
        },
        ..SimOptions::default()
    }
}

#[tokio::test]
async fn every_page_of_every_list_is_stored_and_recorded() {
    let book = SimBook::demo();
    let sim = start(book.clone(), SimCredentials::random(), small_pages())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(
        &[connector(&sim, FetchOptions::default())],
        &out,
        book.as_of,
    )
    .await
    .unwrap();
    let cs = &manifest.brokers["clearstreet"];
    assert_eq!(cs.status, FetchStatus::Complete, "{:?}", cs.errors);
    assert_eq!(
        cs.accounts,
        vec!["19816", "19817", "19818", "19819", "19820"]
    );
    // 5 accounts in pages of 2: three list pages.
    for n in 1..=3 {
        assert!(
            out.root()
                .join(format!("clearstreet/accounts.{n:04}.json"))
                .is_file()
        );
    }
    assert!(!out.root().join("clearstreet/accounts.0004.json").exists());
    // 19816 has 3 positions: two pages; an empty account still has its one page.
    assert!(
        out.root()
            .join("clearstreet/19816/positions.0002.json")
            .is_file()
    );
    assert!(
        out.root()
            .join("clearstreet/19820/positions.0001.json")
            .is_file()
    );
    let requests = cs.requests.as_ref().unwrap();
    let tokens = requests
        .iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.starts_with("page_token="))
        })
        .count();
    // Two more list pages and one more positions page (19816).
    assert_eq!(tokens, 3, "{requests:?}");
    // The bearer token is never on disk.
    let token = sim.credentials.get(Broker::Clearstreet, "api_key");
    for entry in walk(out.root()) {
        let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(!text.contains(token), "{}", entry.display());
    }
}

#[tokio::test]
async fn a_paging_loop_is_caught_and_reported() {
    let book = SimBook::demo();
    let options = SimOptions {
        faults: Faults {
            paging_loop: true,
            ..Faults::default()
        },
        ..small_pages()
    };
    let sim = start(book.clone(), SimCredentials::random(), options)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let manifest = fetch_all(
        &[connector(&sim, FetchOptions::default())],
        &out,
        book.as_of,
    )
    .await
    .unwrap();
    let cs = &manifest.brokers["clearstreet"];
    // The account list itself loops: the broker failed, said why, and nothing hung.
    assert_eq!(cs.status, FetchStatus::Failed);
    assert!(
        cs.errors[0].error.contains("paging loop"),
        "{:?}",
        cs.errors
    );
}

#[tokio::test]
async fn a_wrong_token_fails_once_without_retries() {
    let book = SimBook::demo();
    let sim = start(
        book.clone(),
        SimCredentials::random(),
        SimOptions::default(),
    )
    .await
    .unwrap();
    let c = sim_connector(
        &sim,
        Broker::Clearstreet,
        None,
        FetchOptions::default(),
        &[("api_key", "wrong")],
    );
    let (_dir, manifest) = fetch_into(&[c], book.as_of).await;
    let cs = &manifest.brokers["clearstreet"];
    assert_eq!(cs.status, FetchStatus::Failed);
    assert!(cs.errors[0].error.contains("403"), "{}", cs.errors[0].error);
    assert!(
        cs.errors[0].error.contains("refused the token"),
        "{}",
        cs.errors[0].error
    );
    assert_eq!(cs.requests.as_ref().unwrap()[0].attempts, 1);
}

#[tokio::test]
async fn the_flaky_profile_is_survived_within_the_retry_bound() {
    let book = SimBook::demo();
    let options = SimOptions {
        faults: Faults::profile("flaky").unwrap(),
        ..SimOptions::default()
    };
    let sim = start(book.clone(), SimCredentials::random(), options)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = SnapshotWriter::create(dir.path()).unwrap();
    let quick = FetchOptions {
        retry: recon_fetch::RetryPolicy {
            retries: 3,
            min_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_secs(2),
        },
        ..FetchOptions::default()
    };
    let manifest = fetch_all(&[connector(&sim, quick)], &out, book.as_of)
        .await
        .unwrap();
    let cs = &manifest.brokers["clearstreet"];
    assert_eq!(cs.status, FetchStatus::Complete, "{:?}", cs.errors);
    // 503, 429, a cut body, then the answer: four attempts, never more.
    assert!(
        cs.requests
            .as_ref()
            .unwrap()
            .iter()
            .all(|r| r.attempts == 4)
    );
}
