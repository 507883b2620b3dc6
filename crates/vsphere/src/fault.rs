//! vSphere faults (`MethodFault` and its subtypes) as typed values with the server's message.
//!
//! A fault arrives in a SOAP `<Fault>` (`<faultstring>` + `<detail><XFault xsi:type="X">`) or, for a
//! task, as a `LocalizedMethodFault` (`<fault xsi:type="X">` + `<localizedMessage>`).

use std::fmt;

use crate::MoRef;
use crate::error::cut;
use crate::xml::Element;

/// The fault types callers act on; every other type is `Other` and keeps its name in [`Fault::type_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// The session is not (or no longer) logged in.
    NotAuthenticated,
    /// Wrong user name or password.
    InvalidLogin,
    /// The referenced object does not exist (any more).
    ManagedObjectNotFound {
        object: Option<MoRef>,
    },
    /// `FileFault` or one of its subtypes (`FileNotFound`, `FileLocked`, `CannotAccessFile`…).
    FileFault {
        file: Option<String>,
    },
    /// Another task holds the object.
    TaskInProgress {
        task: Option<MoRef>,
    },
    /// An argument was rejected; `property` names it when vSphere does.
    InvalidArgument {
        property: Option<String>,
    },
    /// A property path unknown to the object's type.
    InvalidProperty {
        name: Option<String>,
    },
    /// The VM is not in the power state the operation needs.
    InvalidPowerState {
        requested: Option<String>,
        existing: Option<String>,
    },
    /// `InvalidState` or another of its subtypes.
    InvalidState,
    NoPermission {
        privilege: Option<String>,
    },
    NotSupported,
    /// The request itself was malformed (unknown method, bad XML).
    InvalidRequest,
    Other,
}

/// A decoded vSphere fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The wire type name, e.g. `FileNotFound`.
    pub type_name: String,
    pub kind: FaultKind,
    /// vSphere's own message (`faultstring` or `localizedMessage`); may be empty.
    pub message: String,
}

const FILE_FAULTS: &[&str] = &[
    "FileFault",
    "FileNotFound",
    "FileAlreadyExists",
    "FileLocked",
    "FileBackedPortNotSupported",
    "FileNameTooLong",
    "FileTooLarge",
    "CannotAccessFile",
    "CannotCreateFile",
    "CannotDeleteFile",
    "DirectoryNotEmpty",
    "NotADirectory",
    "NotAFile",
    "InvalidDatastorePath",
    "NoDiskSpace",
    "GenericVmConfigFault",
];

const INVALID_STATE_FAULTS: &[&str] = &[
    "InvalidState",
    "InvalidDatastoreState",
    "InvalidHostState",
    "InvalidVmState",
    "CannotPowerOffVmInCluster",
    "MksConnectionLimitReached",
    "NoActiveHostInCluster",
    "QuestionPending",
    "VmPowerOnDisabled",
];

impl Fault {
    /// Decodes the element holding the fault's own fields (`<detail>`'s child or a task's `<fault>`).
    pub(crate) fn from_detail(detail: &Element, message: &str) -> Self {
        let type_name = cut(detail
            .xsi_type
            .as_deref()
            .unwrap_or_else(|| detail.name.strip_suffix("Fault").unwrap_or(&detail.name)));
        let text = |name: &str| detail.child_text(name).map(cut);
        let moref = |name: &str| {
            MoRef::child(detail, name)
                .ok()
                .flatten()
                .map(|m| MoRef::new(cut(&m.kind), cut(&m.value)))
        };
        let kind = match type_name.as_str() {
            "NotAuthenticated" => FaultKind::NotAuthenticated,
            "InvalidLogin" => FaultKind::InvalidLogin,
            "ManagedObjectNotFound" => FaultKind::ManagedObjectNotFound {
                object: moref("obj"),
            },
            "TaskInProgress" => FaultKind::TaskInProgress {
                task: moref("task"),
            },
            "InvalidArgument" => FaultKind::InvalidArgument {
                property: text("invalidProperty"),
            },
            "InvalidProperty" => FaultKind::InvalidProperty { name: text("name") },
            "InvalidPowerState" => FaultKind::InvalidPowerState {
                requested: text("requestedState"),
                existing: text("existingState"),
            },
            "NoPermission" => FaultKind::NoPermission {
                privilege: text("privilegeId"),
            },
            "NotSupported" => FaultKind::NotSupported,
            "InvalidRequest" | "MethodNotFound" => FaultKind::InvalidRequest,
            t if FILE_FAULTS.contains(&t) => FaultKind::FileFault { file: text("file") },
            t if INVALID_STATE_FAULTS.contains(&t) => FaultKind::InvalidState,
            _ => FaultKind::Other,
        };
        let message = if message.trim().is_empty() {
            cut(&detail
                .children("faultMessage")
                .filter_map(|m| m.child_text("message"))
                .collect::<Vec<_>>()
                .join("; "))
        } else {
            cut(message.trim())
        };
        Self {
            type_name,
            kind,
            message,
        }
    }

    /// Decodes a SOAP `<Fault>` element.
    pub(crate) fn from_soap_fault(fault: &Element) -> Self {
        let message = fault.child_text("faultstring").unwrap_or_default();
        match fault.child("detail").and_then(|d| d.children.first()) {
            Some(detail) => Self::from_detail(detail, message),
            None => Self {
                type_name: cut(fault.child_text("faultcode").unwrap_or("ServerFaultCode")),
                kind: FaultKind::Other,
                message: cut(message.trim()),
            },
        }
    }

    /// Decodes a `LocalizedMethodFault` (`<fault xsi:type=…>` + `<localizedMessage>`).
    pub(crate) fn from_localized(localized: &Element) -> Self {
        let message = localized.child_text("localizedMessage").unwrap_or_default();
        match localized.child("fault") {
            Some(fault) => Self::from_detail(fault, message),
            None => Self {
                type_name: "MethodFault".into(),
                kind: FaultKind::Other,
                message: cut(message.trim()),
            },
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vSphere fault {}", self.type_name)?;
        match &self.kind {
            FaultKind::ManagedObjectNotFound { object: Some(o) } => write!(f, " ({o})")?,
            FaultKind::FileFault { file: Some(file) } => write!(f, " (file {file})")?,
            FaultKind::TaskInProgress { task: Some(t) } => write!(f, " (task {t})")?,
            FaultKind::InvalidArgument { property: Some(p) } => write!(f, " (argument {p})")?,
            FaultKind::InvalidProperty { name: Some(n) } => write!(f, " (property {n})")?,
            FaultKind::NoPermission { privilege: Some(p) } => write!(f, " (privilege {p})")?,
            FaultKind::InvalidPowerState {
                requested,
                existing,
            } => write!(
                f,
                " (power state {}, needs {})",
                existing.as_deref().unwrap_or("?"),
                requested.as_deref().unwrap_or("another")
            )?,
            _ => {}
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}
