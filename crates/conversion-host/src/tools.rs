use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Runs a probe command and returns its stdout, or None if it could not run or failed.
pub(crate) fn output_of(program: &Path, args: &[&str]) -> Option<String> {
    let out = crate::child_env::restrict(&mut Command::new(program))
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        tracing::debug!(program = %program.display(), ?args, status = %out.status, "probe failed");
        return None;
    }
    String::from_utf8(out.stdout).ok()
}
