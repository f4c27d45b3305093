//! The `switchyard` binary: parses the command line and hands over to the library.

/// mimalloc instead of glibc's allocator: intake allocates and frees many small buffers per request
/// across threads, where glibc spent about a sixth of the server's CPU (see docs/BENCHMARKS.md).
/// The `override` feature routes C `malloc` (SQLite's) to it as well.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    switchyard::cli::main()
}
