//! The allocator's page policy (mimalloc, the binary's global allocator).
//!
//! mimalloc hands emptied pages back to the system 10 ms after they empty. A check frees
//! each chunk of accounts and builds the next in about the same memory, so the pages are
//! kept for it instead: the system time of a 10,000-account check halves (the kernel no
//! longer zeroes fresh pages), ~15 % of its wall time (docs/performance.md "Bounded
//! memory"). The memory budget still bounds what is held. Before the chunks are planned,
//! the pages freed so far are handed back once, so that the resident memory measured then is
//! what the run really holds. `mi_option_set` and `mi_collect` are mimalloc's stable C API;
//! `mi_option_purge_delay` is option 15 in its v2 and v3 headers, `mi_option_allow_thp` 38
//! in the v2 header the `mimalloc` crate builds by default (44 in v3; the `prctl` below
//! disables huge pages whatever that option does).

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
const MI_OPTION_ALLOW_THP: c_int = 38;

/// Keep emptied pages for reuse instead of handing them back, and use small pages only.
///
/// Transparent huge pages: mimalloc asks for them on the memory it reserves, and the kernel
/// then zeroes 2 MiB at a time on first touch. On the machines recon is measured on (a
/// virtual machine, 2 cores) every fresh page is expensive to touch, so what counts is how
/// much fresh memory a run touches; with small pages that is only what it uses. Measured on
/// the 10,000-account check (three alternating runs each): system time 1.2 → 0.9 s and wall
/// 3.1 → 2.9 s for the core pack; 4.4 → 4.2 s with a book of record (docs/performance.md,
/// session 10). mimalloc's own switch for it (`MIMALLOC_ALLOW_THP=0`) is read from the
/// environment at start-up; this does the same for the whole process from `main`.
pub fn keep_freed_pages() {
    // SAFETY: sets options of the linked mimalloc; any value is valid for these options.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        mi_option_set(MI_OPTION_ALLOW_THP, 0);
    }
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes an int flag and no pointer; it only sets a flag of this
    // process's memory map, which every later fault reads. Failure (an old kernel) leaves
    // huge pages allowed, which is only slower.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
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
