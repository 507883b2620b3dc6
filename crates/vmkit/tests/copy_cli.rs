//! `vmkit copy` as an operator runs it, against a real nbdkit.

use std::process::Command;

use testbed::disk;
use testbed::nbdkit::Nbdkit;

const MIB: u64 = 1 << 20;

fn vmkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vmkit"))
}

#[test]
fn copies_a_disk_and_writes_json_progress() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    disk::sparse_file(
        &src,
        20 * MIB + 512,
        &[(0, MIB), (20 * MIB - 4096, 4608)],
        1,
    )
    .unwrap();
    let server = Nbdkit::new("file")
        .arg(format!("file={}", src.display()))
        .start()
        .unwrap();
    let dst = dir.path().join("dst.raw");
    let progress = dir.path().join("progress.jsonl");
    let out = vmkit()
        .args([
            "copy",
            "--connections",
            "2",
            "--requests",
            "4",
            "--request-size",
            "64K",
        ])
        .arg("--progress")
        .arg(&progress)
        .arg(server.uri())
        .arg(&dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        disk::sha256_file(&dst).unwrap(),
        disk::sha256_file(&src).unwrap()
    );
    let text = std::fs::read_to_string(&progress).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["bytes_done"], 20 * MIB + 512);
    assert_eq!(last["bytes_total"], 20 * MIB + 512);
    assert!(last["bytes_per_second"].is_u64());
}

#[test]
fn copies_only_the_listed_areas() {
    let dir = tempfile::tempdir().unwrap();
    let server = Nbdkit::new("pattern").arg("size=8M").start().unwrap();
    let dst = dir.path().join("dst.raw");
    disk::empty_file(&dst, 8 * MIB).unwrap();
    let areas = dir.path().join("areas.json");
    std::fs::write(
        &areas,
        r#"[{"start": 65536, "length": 4096}, {"start": 8384512, "length": 4096}]"#,
    )
    .unwrap();
    let out = vmkit()
        .args(["copy", "--areas"])
        .arg(&areas)
        .arg(server.uri())
        .arg(&dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = std::fs::read(&dst).unwrap();
    // The pattern plugin stores each 8-byte word's own offset, big-endian.
    assert_eq!(
        u64::from_be_bytes(data[65536..65544].try_into().unwrap()),
        65536
    );
    assert_eq!(
        u64::from_be_bytes(data[8384512..8384520].try_into().unwrap()),
        8384512
    );
    assert!(data[..65536].iter().all(|&b| b == 0));
    assert!(data[69632..8384512].iter().all(|&b| b == 0));
}

#[test]
fn refuses_a_smaller_destination_and_says_why() {
    let source = Nbdkit::new("pattern").arg("size=3M").start().unwrap();
    let dest = Nbdkit::new("memory").arg("size=2M").start().unwrap();
    let out = vmkit()
        .arg("copy")
        .arg(source.uri())
        .arg(dest.uri())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("smaller than the source"), "{err}");
}
