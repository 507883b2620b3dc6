//! The supported guest operating systems: the ONE list (RHEL, CentOS Stream, Rocky and Alma
//! 7–10; Ubuntu 18.04 and later; Debian 10 and later; SLES 12 and later; Windows Server
//! 2016–2025; Windows 10 and 11), matched on vSphere's guest id.

/// One entry of the list.
#[derive(Debug, Clone, Copy)]
pub enum SupportedGuest {
    /// `<prefix><N>[_64]Guest` with N in `min..=max` (`rhel8_64Guest`, `debian12_64Guest`).
    Versioned {
        prefix: &'static str,
        min: u32,
        max: u32,
        name: &'static str,
    },
    /// A guest id that carries no version (`rockylinux_64Guest`); `min_version`, when set, is
    /// checked against a `major.minor` found in the guest's full name.
    Unversioned {
        id_prefix: &'static str,
        min_version: Option<(u32, u32)>,
        name: &'static str,
    },
    /// One exact guest id.
    Exact {
        id: &'static str,
        name: &'static str,
    },
}

pub const SUPPORTED_GUESTS: &[SupportedGuest] = &[
    SupportedGuest::Versioned {
        prefix: "rhel",
        min: 7,
        max: 10,
        name: "Red Hat Enterprise Linux 7-10",
    },
    SupportedGuest::Versioned {
        prefix: "centos",
        min: 7,
        max: 10,
        name: "CentOS / CentOS Stream 7-10",
    },
    SupportedGuest::Unversioned {
        id_prefix: "rockylinux",
        min_version: None,
        name: "Rocky Linux",
    },
    SupportedGuest::Unversioned {
        id_prefix: "almalinux",
        min_version: None,
        name: "AlmaLinux",
    },
    SupportedGuest::Unversioned {
        id_prefix: "ubuntu",
        min_version: Some((18, 4)),
        name: "Ubuntu 18.04 or later",
    },
    SupportedGuest::Versioned {
        prefix: "debian",
        min: 10,
        max: u32::MAX,
        name: "Debian 10 or later",
    },
    SupportedGuest::Versioned {
        prefix: "sles",
        min: 12,
        max: u32::MAX,
        name: "SUSE Linux Enterprise Server 12 or later",
    },
    SupportedGuest::Exact {
        id: "windows9Server64Guest",
        name: "Windows Server 2016",
    },
    SupportedGuest::Exact {
        id: "windows2019srv_64Guest",
        name: "Windows Server 2019",
    },
    SupportedGuest::Exact {
        id: "windows2019srvNext_64Guest",
        name: "Windows Server 2022",
    },
    SupportedGuest::Exact {
        id: "windows2022srvNext_64Guest",
        name: "Windows Server 2025",
    },
    SupportedGuest::Exact {
        id: "windows9_64Guest",
        name: "Windows 10/11",
    },
    SupportedGuest::Exact {
        id: "windows9Guest",
        name: "Windows 10 (32-bit)",
    },
    SupportedGuest::Exact {
        id: "windows11_64Guest",
        name: "Windows 11",
    },
    SupportedGuest::Exact {
        id: "windows12_64Guest",
        name: "Windows 11 (later ids)",
    },
];

/// `8` from `rhel8_64Guest` after the prefix `rhel`.
fn version_after<'a>(id: &'a str, prefix: &str) -> Option<u32> {
    let rest = id.strip_prefix(prefix)?;
    let digits: &'a str = &rest[..rest.bytes().take_while(u8::is_ascii_digit).count()];
    let after = &rest[digits.len()..];
    (after.starts_with('_') || after.starts_with("Guest") || after.starts_with("64Guest"))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The first `major.minor` in a text (`Ubuntu 22.04 LTS` → (22, 4)).
fn major_minor(text: &str) -> Option<(u32, u32)> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|word| {
            let (major, minor) = word.split_once('.')?;
            Some((major.parse().ok()?, minor.split('.').next()?.parse().ok()?))
        })
        .next()
}

/// The entry that supports this guest, or `None`.
pub fn supported(guest_id: &str, full_name: Option<&str>) -> Option<&'static SupportedGuest> {
    SUPPORTED_GUESTS.iter().find(|entry| match entry {
        SupportedGuest::Versioned {
            prefix, min, max, ..
        } => version_after(guest_id, prefix).is_some_and(|v| (*min..=*max).contains(&v)),
        SupportedGuest::Unversioned {
            id_prefix,
            min_version,
            ..
        } => {
            guest_id.starts_with(id_prefix)
                && match (min_version, full_name.and_then(major_minor)) {
                    (Some(min), Some(found)) => found >= *min,
                    _ => true,
                }
        }
        SupportedGuest::Exact { id, .. } => guest_id == *id,
    })
}

/// The list as one sentence, for messages.
pub fn supported_names() -> String {
    SUPPORTED_GUESTS
        .iter()
        .map(|entry| match entry {
            SupportedGuest::Versioned { name, .. }
            | SupportedGuest::Unversioned { name, .. }
            | SupportedGuest::Exact { name, .. } => *name,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supported_list() {
        for id in [
            "rhel7_64Guest",
            "rhel8_64Guest",
            "rhel9_64Guest",
            "rhel10_64Guest",
            "centos8_64Guest",
            "centos9_64Guest",
            "rockylinux_64Guest",
            "almalinux_64Guest",
            "ubuntu64Guest",
            "debian10_64Guest",
            "debian12_64Guest",
            "sles12_64Guest",
            "sles15_64Guest",
            "windows9Server64Guest",
            "windows2019srv_64Guest",
            "windows2019srvNext_64Guest",
            "windows2022srvNext_64Guest",
            "windows9_64Guest",
            "windows11_64Guest",
        ] {
            assert!(supported(id, None).is_some(), "{id}");
        }
        for id in [
            "rhel6_64Guest",
            "centos6_64Guest",
            "debian9_64Guest",
            "sles11_64Guest",
            "solaris11_64Guest",
            "windows8Server64Guest",
            "winNetStandardGuest",
            "otherGuest64",
            "freebsd13_64Guest",
            "",
        ] {
            assert!(supported(id, None).is_none(), "{id}");
        }
    }

    #[test]
    fn ubuntu_versions_come_from_the_full_name() {
        assert!(supported("ubuntu64Guest", Some("Ubuntu 22.04.3 LTS")).is_some());
        assert!(supported("ubuntu64Guest", Some("Ubuntu 16.04 LTS")).is_none());
        assert!(supported("ubuntu64Guest", Some("Ubuntu Linux (64-bit)")).is_some());
    }
}
