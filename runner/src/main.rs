use clap::Parser;
use hangar_runner::{log_event, start, Config};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let runner = match start(config).await {
        Ok(runner) => runner,
        Err(e) => {
            log_event!("error", "start_failed", {"error": e});
            eprintln!("hangar-runner: {e}");
            return ExitCode::FAILURE;
        }
    };
    let signal = shutdown_signal().await;
    log_event!("info", "stopping", {"signal": signal, "running": runner.load().0, "queued": runner.load().1});
    // A second signal stops at once.
    tokio::spawn(async {
        let signal = shutdown_signal().await;
        log_event!("warn", "stopped", {"signal": signal, "clean": false});
        std::process::exit(130);
    });
    runner.stop().await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
