//! jq expressions for dedup keys, filters and mappings, bounded so that a hostile or careless
//! expression can neither crash nor stall the process: `limits` refuses unbounded constructs
//! before jaq sees them, and `pool` runs jaq only on big-stack worker threads under a deadline,
//! disabling an expression that ever misses it.

mod eval;
mod limits;
mod pool;

pub use limits::{MAX_DEPTH, MAX_LEN};
pub use pool::{DEFAULT_BUDGET, Jq};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JqError {
    /// The expression breaks a static rule or does not compile; found when it is configured.
    #[error("invalid jq expression: {0}")]
    Invalid(String),
    /// The expression raised an error on this input, or produced something unusable.
    #[error("jq expression failed: {0}")]
    Failed(String),
    /// The expression ran past its time budget; it stays disabled until it is reconfigured.
    #[error("jq expression exceeded its time budget and is disabled")]
    Timeout,
    /// Every worker is busy with expressions that overran; nothing was run.
    #[error("no jq worker is free")]
    Busy,
}

/// Checks an expression as configuration: static limits, then a full parse and compile on a
/// thread with a large stack. Call it wherever an expression is accepted from a user.
pub fn validate(code: &str) -> Result<(), JqError> {
    limits::check(code)?;
    let code = code.to_string();
    std::thread::Builder::new()
        .name("jq-validate".into())
        .stack_size(pool::STACK_BYTES)
        .spawn(move || eval::compile(&code).map(|_| ()))
        .map_err(|e| JqError::Failed(format!("cannot start a jq thread: {e}")))?
        .join()
        .unwrap_or_else(|_| Err(JqError::Invalid("the expression crashed the compiler".into())))
}
