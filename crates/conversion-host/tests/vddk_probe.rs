//! nbdkit's own probe of its vddk plugin (`nbdkit vddk --dump-plugin`), run against the test bed's
//! real plugin and fake VixDiskLib (tests/vddk/build; `scripts/testbed up nbd`), and against the
//! machine's nbdkit, which Debian ships without the plugin.

use std::path::{Path, PathBuf};

use conversion_host::vddk_probe::{ProbeError, probe};

fn built(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: run `scripts/testbed up nbd; eval \"$(scripts/testbed env)\"`"
        ),
    }
}

/// An `nbdkit` that runs the machine's with the built plugin's path for `vddk`, as the test bed's
/// conversion host does.
fn nbdkit_with_the_plugin(dir: &Path) -> PathBuf {
    let plugin = built("VMKIT_TEST_VDDK_PLUGIN");
    let wrapper = dir.join("nbdkit");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nfor a do shift; if [ \"$a\" = vddk ]; then set -- \"$@\" '{plugin}'; else set -- \"$@\" \"$a\"; fi; done\nexec nbdkit \"$@\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    wrapper
}

#[test]
fn the_plugin_finds_vddk_in_libdir_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let nbdkit = nbdkit_with_the_plugin(dir.path());
    let libdir = dir.path().join("vmware-vix-disklib");
    std::fs::create_dir_all(libdir.join("lib64")).unwrap();
    let library = libdir.join("lib64/libvixDiskLib.so.6");
    std::os::unix::fs::symlink(built("VMKIT_TEST_VDDK_FAKE_LIBRARY"), &library).unwrap();

    let found = probe(&nbdkit, &libdir).unwrap();
    assert_eq!(found.library_major, Some(6), "{found:?}");
    assert_eq!(found.library_version().as_deref(), Some("6"), "{found:?}");
    assert!(found.plugin_version.is_some(), "{found:?}");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let none = probe(&nbdkit, &empty).unwrap();
    assert_eq!(none.library_major, None, "{none:?}");
    assert_eq!(none.library, None, "{none:?}");
}

#[test]
fn without_the_plugin_nbdkit_says_why() {
    let err = probe(Path::new("nbdkit"), Path::new("/nonexistent")).unwrap_err();
    assert!(
        matches!(&err, ProbeError::NoPlugin { said, .. } if said.contains("vddk")),
        "{err}"
    );
    let missing = probe(Path::new("/nonexistent/nbdkit"), Path::new("/x")).unwrap_err();
    assert!(matches!(missing, ProbeError::Spawn { .. }), "{missing}");
}
