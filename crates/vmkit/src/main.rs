use std::process::ExitCode;

fn main() -> ExitCode {
    vmkit::run(std::env::args_os().collect())
}
