//! A run started by a controller that may die: the controller keeps renewing (touching) a lease
//! file while it waits, and the run cancels itself, as on SIGTERM, once the lease is older than
//! its bound or gone. An async job on a conversion host outlives a cancelled or lost
//! `ansible-playbook`; this is what stops it then. Removing the file cancels at once (what the
//! role does when its wait is signalled, and what `cancel.yml` does).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use conversion_host::private_files::{Open, open_private};

use crate::error::{Error, Result, Step};

/// How often the lease is looked at: a removed lease cancels within this.
const CHECK_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub path: PathBuf,
    /// Older than this (by its modification time), the lease has lapsed.
    pub timeout: Duration,
}

impl Lease {
    /// Writes this process's id into the lease (for `cancel.yml`); the controller renews it by
    /// its modification time only. Refused when the lease is already missing or stale: nothing
    /// has changed yet. The lease is removed when the returned guard goes, at the end of the run,
    /// so a pid in a lease is one of a running migrate (unless it was killed).
    pub fn hold(&self) -> Result<Held> {
        if let Some(why) = self.lapse() {
            return Err(Error::Refused(format!(
                "the lease {} {why} before the run began (argument 'lease_file'): the controller \
                 that started this run is no longer waiting for it",
                self.path.display()
            )));
        }
        let mut file = open_private(&self.path, Open::Truncate)
            .step(|| format!("cannot write the lease {}", self.path.display()))?;
        writeln!(file, "{}", std::process::id())
            .step(|| format!("cannot write the lease {}", self.path.display()))?;
        Ok(Held(self.path.clone()))
    }

    /// Returns once the lease has lapsed, with the error that ends the run.
    pub async fn lapsed(&self) -> Error {
        loop {
            if let Some(why) = self.lapse() {
                return Error::LeaseLapsed(format!(
                    "the lease {} {why}: the playbook that started this run was cancelled or its \
                     controller is gone",
                    self.path.display()
                ));
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }

    fn lapse(&self) -> Option<String> {
        lapse_of(&self.path, self.timeout, SystemTime::now())
    }
}

/// A held lease; removed when dropped.
#[derive(Debug)]
pub struct Held(PathBuf);

impl Drop for Held {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn lapse_of(path: &Path, timeout: Duration, now: SystemTime) -> Option<String> {
    match std::fs::metadata(path).and_then(|m| m.modified()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("was removed".to_owned()),
        Err(e) => Some(format!("cannot be read ({e})")),
        // A time in the future (a clock step) counts as fresh.
        Ok(renewed) => match now.duration_since(renewed) {
            Ok(age) if age > timeout => Some(format!(
                "was not renewed for {} s (lease_timeout {} s)",
                age.as_secs(),
                timeout.as_secs()
            )),
            _ => None,
        },
    }
}

/// A future that never ends: a run without a lease.
pub async fn lapsed(lease: Option<&Lease>) -> Error {
    match lease {
        Some(lease) => lease.lapsed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_lapses_when_stale_or_removed_and_not_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("migrate.lease");
        let timeout = Duration::from_secs(20);
        assert_eq!(
            lapse_of(&path, timeout, SystemTime::now()).as_deref(),
            Some("was removed")
        );
        std::fs::write(&path, "").unwrap();
        let renewed = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert_eq!(
            lapse_of(&path, timeout, renewed + Duration::from_secs(19)),
            None
        );
        let stale = lapse_of(&path, timeout, renewed + Duration::from_secs(21)).unwrap();
        assert!(stale.contains("not renewed for 21 s"), "{stale}");
        assert_eq!(
            lapse_of(&path, timeout, renewed - Duration::from_secs(60)),
            None
        );
    }

    #[test]
    fn holding_writes_the_pid_until_the_end_and_a_missing_lease_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lease = Lease {
            path: dir.path().join("migrate.lease"),
            timeout: Duration::from_secs(20),
        };
        let err = lease.hold().unwrap_err().to_string();
        assert!(err.contains("was removed before the run began"), "{err}");
        std::fs::write(&lease.path, "").unwrap();
        let held = lease.hold().unwrap();
        assert_eq!(
            std::fs::read_to_string(&lease.path).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(held);
        assert!(!lease.path.exists(), "the lease outlived the run");
    }
}
