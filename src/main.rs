//! The `ptycho` binary: parse the command line and hand over to the library; one-line errors
//! and exit codes (0 success, 1 runtime failure, 2 usage or configuration error). `anyhow`
//! lives only here.

use clap::Parser;

fn main() -> std::process::ExitCode {
    quiet_wayland_probe();
    let cli = ptycho::cli::Cli::parse_from(ptycho::cli::ptychodus_argv(std::env::args_os()));
    // Under mpirun/srun (the `mpi` feature) MPI lives until `_session` drops.
    let _session = match ptycho::dist::init() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let comm = ptycho::dist::world();
    match ptycho::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Usage and configuration errors exit with 2 (like clap's own), everything else 1.
            let code: u8 = if e.is_usage() { 2 } else { 1 };
            let collective = e.is_collective();
            let line = one_line(&anyhow::Error::new(e));
            if comm.is_parallel() {
                if collective {
                    // Every rank found the same: rank 0 says it, all end normally.
                    if comm.is_root() {
                        eprintln!("error: {line}");
                    }
                } else {
                    // One rank failed: it names itself and ends the whole job, so that no
                    // other rank waits for it.
                    eprintln!("error: rank {} of {}: {line}", comm.rank(), comm.size());
                    comm.abort(code as i32);
                }
            } else {
                eprintln!("error: {line}");
            }
            std::process::ExitCode::from(code)
        }
    }
}

/// The error and its causes on one line, each cause once (an error whose message already
/// includes its cause's is not repeated).
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for c in e.chain().skip(1) {
        let c = c.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

/// On a headless Linux machine (a container, a batch job) XDG_RUNTIME_DIR is often unset, and
/// the Vulkan/EGL drivers' probe for a Wayland display then makes libwayland print
/// "error: XDG_RUNTIME_DIR is invalid or not set in the environment." twice on every run:
/// alarming noise around ptycho's own one-line messages. libwayland only checks that the
/// variable holds an absolute path (then fails to connect, silently), so give it the temp dir.
fn quiet_wayland_probe() {
    #[cfg(target_os = "linux")]
    {
        let set = std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|d| std::path::Path::new(&d).is_absolute());
        let tmp = std::env::temp_dir();
        if !set && tmp.is_absolute() {
            // SAFETY: called first thing in main, before any thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", tmp) };
        }
    }
}
