use std::collections::BTreeMap;
use std::path::Path;

/// `nbdkit --dump-config` output: `key=value` lines (plugindir, filterdir, version, …).
pub(crate) fn parse_dump_config(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Names of the installed modules of one kind: `nbdkit-<name>-plugin.so` → `name`.
pub(crate) fn installed_modules(dir: &Path, kind: &str) -> Vec<String> {
    let suffix = format!("-{kind}.so");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().into_string().ok()?;
            file.strip_prefix("nbdkit-")?
                .strip_suffix(&suffix)
                .map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dump_config() {
        let cfg =
            parse_dump_config("bindir=/usr/bin\nplugindir=/usr/lib/x/plugins\nversion=1.32.5\n");
        assert_eq!(cfg["plugindir"], "/usr/lib/x/plugins");
        assert_eq!(cfg["version"], "1.32.5");
    }

    #[test]
    fn lists_modules_by_file_name() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "nbdkit-file-plugin.so",
            "nbdkit-vddk-plugin.so",
            "nbdkit-retry-filter.so",
            "other.so",
        ] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        assert_eq!(installed_modules(dir.path(), "plugin"), ["file", "vddk"]);
        assert_eq!(installed_modules(dir.path(), "filter"), ["retry"]);
    }
}
