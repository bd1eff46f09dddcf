//! The `kessler` command: the arguments ([`args`]) and the dispatch to one module per subcommand ([`cmd`]).
//!
//! A failed command prints one line, `kessler: what went wrong`, on stderr and exits with status 1; `--verbose`
//! (or `KESSLER_LOG=debug`) prints the whole chain of causes and, with `RUST_BACKTRACE=1`, the backtrace.

mod args;
mod cmd;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    fix_mmap_threshold();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("kessler: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Fixes glibc's threshold for serving an allocation by `mmap` at 1 MiB, before any thread
/// starts. By default glibc raises it each time such a block is freed, up to 32 MiB, and from
/// then on the detector's per-frame buffers of 1 to 32 MiB (the transform's levels, the
/// filter's bands) come from the heap and stay resident between frames: `kessler detect` on
/// 4096 x 4096 frames grew from 339 MiB after one frame to 421 MiB after four, and stays at
/// 340 MiB with the threshold fixed.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator; no thread has started yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("KESSLER_LOG").unwrap_or_else(|_| "warn".into());
    let verbose = cli.verbose || filter.contains("debug") || filter.contains("trace");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if verbose => {
            eprintln!("kessler: {e:?}");
            ExitCode::FAILURE
        }
        Err(e) => {
            // One line: the chain of causes joined by ": ", any newline inside a cause flattened.
            eprintln!("kessler: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Demo(a) => cmd::demo::run(a).await,
        Command::Detect(a) => cmd::detect::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Bench(a) => cmd::bench::bench(a),
        Command::BenchPipeline(a) => cmd::bench::pipeline(a).await,
        Command::Calibrate(a) => cmd::bench::calibrate(a),
        Command::Publish(a) => cmd::publish::run(a).await,
        Command::Run(a) => cmd::run::run(a).await,
        Command::Od(a) => cmd::od::run(a),
        Command::BenchOd(a) => cmd::bench::od(a),
        Command::Catalog { command } => cmd::catalog::run(command).await,
        Command::Review(a) => cmd::catalog::serve(a).await,
    }
}
