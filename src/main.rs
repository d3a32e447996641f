//! The `ptycho` binary: parse the command line and hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = ptycho::cli::Cli::parse();
    match ptycho::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes.
            let mut msg = e.to_string();
            for c in e.chain().skip(1) {
                msg.push_str(": ");
                msg.push_str(&c.to_string());
            }
            eprintln!("error: {msg}");
            // Usage and configuration errors exit with 2 (like clap's own), everything else 1.
            if e.downcast_ref::<ptycho::config::ConfigError>().is_some() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}
