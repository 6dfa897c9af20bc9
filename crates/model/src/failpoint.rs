//! Failpoints: named places where a test makes recon fail as a bug would, to prove the
//! failure is contained. `RECON_FAILPOINTS=parse.etrade` makes reading E*TRADE's snapshot
//! panic. Off unless that variable names the point; never set in production.

/// The variable listing the active failpoints, comma-separated.
pub const VAR: &str = "RECON_FAILPOINTS";

/// Panics when `RECON_FAILPOINTS` names `name`.
pub fn hit(name: &str) {
    let Some(list) = std::env::var_os(VAR) else {
        return;
    };
    if list.to_string_lossy().split(',').any(|p| p.trim() == name) {
        panic!("failpoint `{name}` ({VAR})");
    }
}
