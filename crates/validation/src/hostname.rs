//! Can a VM name become a hostname? RFC 1123: labels of letters, digits and hyphens, not
//! starting or ending with a hyphen, separated by dots; 63 characters at most in all.

pub const MAX_LENGTH: usize = 63;

pub fn is_valid(name: &str) -> bool {
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    !name.is_empty() && name.len() <= MAX_LENGTH && name.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123_names() {
        for good in ["lab-linux-bios", "WIN-EFI", "web01.example.com", "a"] {
            assert!(is_valid(good), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "web_01",
            "web 01",
            "-web",
            "web-",
            "a..b",
            long.as_str(),
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
