//! The `switchyard` binary: parses the command line and hands over to the library.

/// mimalloc instead of glibc's allocator: intake allocates and frees many small buffers per request
/// across threads, where glibc spent about a sixth of the server's CPU (see docs/BENCHMARKS.md).
/// The `override` feature routes C `malloc` (SQLite's) to it as well.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3's number for `mi_option_purge_delay` (`mi_option_e` in its `mimalloc.h`; the
/// crate does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed after a burst goes back to the OS at once: mimalloc purges lazily, on a later
/// allocation by the same thread, which an idle server never makes, so with the default delay
/// RSS stayed at its burst level (docs/BENCHMARKS.md, memory after a burst). Arenas are also
/// committed as used (`.cargo/config.toml`). `MIMALLOC_PURGE_DELAY` still overrides this.
fn tune_allocator() {
    // `MIMALLOC_RESET_DELAY` is mimalloc's older name for the same option.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() && std::env::var_os("MIMALLOC_RESET_DELAY").is_none() {
        // SAFETY: mi_option_set only writes mimalloc's option table. It is not thread safe; this
        // runs first in `main`, before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    switchyard::cli::main()
}
