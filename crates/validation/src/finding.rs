//! A finding, its severity, and when findings fail a run.

use serde::Serialize;

/// Forklift's categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Information,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `vmware.snapshot.detected`.
    pub id: &'static str,
    pub severity: Severity,
    pub vm: String,
    /// The device, disk, NIC or setting concerned (`Hard disk 2`, `Network adapter 1`, `guestId`).
    pub object: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// `fail_on`: the lowest severity that fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Critical,
    Warning,
    Never,
}

impl FailOn {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "critical" => Some(Self::Critical),
            "warning" => Some(Self::Warning),
            "never" => Some(Self::Never),
            _ => None,
        }
    }

    pub fn fails(self, finding: &Finding) -> bool {
        match self {
            Self::Critical => finding.severity >= Severity::Critical,
            Self::Warning => finding.severity >= Severity::Warning,
            Self::Never => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity) -> Finding {
        Finding {
            id: "x",
            severity,
            vm: "vm".into(),
            object: "o".into(),
            message: "m".into(),
        }
    }

    #[test]
    fn fail_on_thresholds() {
        assert!(FailOn::Critical.fails(&finding(Severity::Critical)));
        assert!(!FailOn::Critical.fails(&finding(Severity::Warning)));
        assert!(FailOn::Warning.fails(&finding(Severity::Warning)));
        assert!(!FailOn::Warning.fails(&finding(Severity::Information)));
        assert!(!FailOn::Never.fails(&finding(Severity::Critical)));
        assert_eq!(FailOn::parse("sometimes"), None);
        assert_eq!(
            serde_json::to_value(Severity::Information).unwrap(),
            "information"
        );
    }
}
