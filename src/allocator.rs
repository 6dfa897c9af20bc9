//! The allocator's page policy (mimalloc, the binary's global allocator).
//!
//! mimalloc hands emptied pages back to the system 10 ms after they empty. A check frees
//! each chunk of accounts and builds the next in about the same memory, so the pages are
//! kept for it instead: the system time of a 10,000-account check halves (the kernel no
//! longer zeroes fresh pages), ~15 % of its wall time (docs/performance.md "Bounded
//! memory"). The memory budget still bounds what is held. Before the chunks are planned,
//! the pages freed so far are handed back once, so that the resident memory measured then is
//! what the run really holds. `mi_option_set` and `mi_collect` are mimalloc's stable C API;
//! `mi_option_purge_delay` is option 15 in its v2 and v3 headers.

use std::ffi::{c_int, c_long};

// Linked into every binary of this crate (tests and benches too, whose allocator is the
// system's), so that the two functions below resolve.
extern crate mimalloc as _;

// The mimalloc crate links the C library; these are two of its exported functions.
unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    fn mi_collect(force: bool);
}

const MI_OPTION_PURGE_DELAY: c_int = 15;

/// Keep emptied pages for reuse instead of handing them back.
pub fn keep_freed_pages() {
    // SAFETY: sets an option of the linked mimalloc; any value is valid for this option.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// Hand the pages freed so far back to the system, then keep them again.
pub fn release_freed_pages() {
    // SAFETY: as above; `mi_collect` may be called at any time from any thread.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        mi_collect(true);
        mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}
