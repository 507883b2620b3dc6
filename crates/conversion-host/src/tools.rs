use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a probe (`--help`, `--dump-config`, `--dump-plugin`) may take: it only prints text,
/// but a plugin that loads a library (VDDK) or a wedged binary must not hold a run forever.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The first executable named `name` on `$PATH`, like `command -v`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `command` with no input and returns what it printed, killing it past `timeout` (an
/// error of kind `TimedOut`).
pub fn output_within(command: &mut Command, timeout: Duration) -> std::io::Result<Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {}s", timeout.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let joined = |reader: std::thread::JoinHandle<Vec<u8>>| {
        reader
            .join()
            .map_err(|_| std::io::Error::other("the output reader ended"))
    };
    Ok(Output {
        status,
        stdout: joined(stdout)?,
        stderr: joined(stderr)?,
    })
}

/// Reads a child's pipe to its end on a thread of its own, so a full pipe never stalls the child.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Runs a probe command and returns its stdout, or None if it could not run, failed or took
/// longer than [`PROBE_TIMEOUT`].
pub(crate) fn output_of(program: &Path, args: &[&str]) -> Option<String> {
    let out = output_within(
        crate::child_env::restrict(&mut Command::new(program)).args(args),
        PROBE_TIMEOUT,
    )
    .ok()?;
    if !out.status.success() {
        tracing::debug!(program = %program.display(), ?args, status = %out.status, "probe failed");
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_that_never_answers_is_killed_at_its_bound() {
        let started = Instant::now();
        let err = output_within(
            Command::new("sh").args(["-c", "echo waiting; sleep 60"]),
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    }

    #[test]
    fn a_probe_gives_both_outputs_and_its_status() {
        let out = output_within(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            PROBE_TIMEOUT,
        )
        .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }
}
