//! Fuzzes recon-parse's etrade reader: one file of its quirks fixture replaced by the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recon_fuzz::Harness;
use std::sync::LazyLock;

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    Harness::new(
        "etrade",
        recon_parse::snapshot::opener(recon_model::Broker::Etrade),
    )
});

fuzz_target!(|data: &[u8]| HARNESS.run(data));
