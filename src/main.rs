use std::process::ExitCode;

use circlet::cli::{self, Cli};
use clap::Parser;

/// Request handling allocates and frees small buffers on many threads (a body on a tokio
/// worker, freed by the inbox writer's thread); mimalloc handles that with less work than
/// glibc's malloc (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("circlet: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("circlet: {err}");
            ExitCode::from(2)
        }
    }
}
