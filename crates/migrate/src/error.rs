//! What can stop a migration, each saying which step failed and what to do.

/// A failed migration. The `what` of each variant names the step and the object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {cause}")]
    Vsphere { what: String, cause: vsphere::Error },
    #[error("{what}: {cause}")]
    Cloud {
        what: String,
        cause: openstack::Error,
    },
    #[error("{what}: {cause}")]
    Nbdkit {
        what: String,
        cause: conversion_host::nbdkit::NbdkitError,
    },
    #[error("{what}: {cause}")]
    Device {
        what: String,
        cause: conversion_host::device::DeviceError,
    },
    #[error("{what}: {cause}")]
    Copy {
        what: String,
        cause: copy_engine::CopyError,
    },
    #[error("{what}: {cause}")]
    Io { what: String, cause: std::io::Error },
    /// The request cannot be carried out as given; nothing was changed.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Conversion(String),
    #[error("stopped by a signal (SIGTERM/SIGINT)")]
    Cancelled,
    /// The controller stopped renewing the run's lease (see `lease`).
    #[error("stopped: {0}")]
    LeaseLapsed(String),
    /// A run that failed after it began, once its cleanup is over: says how that went,
    /// including the source VM's power.
    #[error("{cause}; {}{power}", if .left.is_empty() {
        "the snapshot and attachments were cleaned up".to_owned()
    } else {
        format!("NOT cleaned up, do it by hand: {}", .left.join("; "))
    })]
    AfterCleanup {
        cause: Box<Error>,
        left: Vec<String>,
        power: SourcePower,
    },
}

impl Error {
    /// A vSphere task that did not end within the run's `timeout`.
    pub fn is_task_timeout(&self) -> bool {
        matches!(
            self,
            Error::Vsphere {
                cause: vsphere::Error::TaskTimedOut { .. },
                ..
            }
        )
    }
}

/// What a failed run did about the source VM it had begun to power off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourcePower {
    /// The run had not begun to power it off (or it was off already).
    Untouched,
    /// Powered on again.
    Restored,
    /// Left off as asked (`restore_source_power_on_failure: false`).
    LeftOff,
    /// Powering it on failed; the failure is among what was not cleaned up.
    NotRestored,
}

impl std::fmt::Display for SourcePower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourcePower::Untouched | SourcePower::NotRestored => "",
            SourcePower::Restored => "; the source VM was powered on again",
            SourcePower::LeftOff => {
                "; the source VM was left powered off (restore_source_power_on_failure: false)"
            }
        })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the step's description to a library error.
pub(crate) trait Step<T> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T>;
}

macro_rules! step_for {
    ($error:ty, $variant:ident) => {
        impl<T> Step<T> for std::result::Result<T, $error> {
            fn step(self, what: impl FnOnce() -> String) -> Result<T> {
                self.map_err(|cause| Error::$variant {
                    what: what(),
                    cause,
                })
            }
        }
    };
}

step_for!(vsphere::Error, Vsphere);
step_for!(openstack::Error, Cloud);
step_for!(conversion_host::nbdkit::NbdkitError, Nbdkit);
step_for!(conversion_host::device::DeviceError, Device);
step_for!(std::io::Error, Io);

impl<T> Step<T> for std::result::Result<T, copy_engine::CopyError> {
    fn step(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|cause| match cause {
            copy_engine::CopyError::Cancelled { .. } => Error::Cancelled,
            cause => Error::Copy {
                what: what(),
                cause,
            },
        })
    }
}
