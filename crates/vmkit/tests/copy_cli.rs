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

/// Copies a 1 GiB zero disk (eight ranges, so eight workers could run) under `taskset -c CPUS`
/// and returns the connections `vmkit copy` says it used.
fn connections_used_on(cpus: &str, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let server = Nbdkit::new("memory").arg("size=1G").start().unwrap();
    let out = Command::new("taskset")
        .args(["-c", cpus])
        .arg(env!("CARGO_BIN_EXE_vmkit"))
        .arg("copy")
        .args(extra)
        .arg(server.uri())
        .arg(dir.path().join("dst.raw"))
        .output()
        .expect("taskset (util-linux) runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err.rsplit("; ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn by_default_a_copy_opens_one_connection_per_cpu_it_may_run_on() {
    assert_eq!(connections_used_on("0", &[]), "1 connection(s)");
    // An operator's number stands, whatever the CPUs.
    assert_eq!(
        connections_used_on("0", &["--connections", "3"]),
        "3 connection(s)"
    );
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        assert_eq!(connections_used_on("0,1", &[]), "2 connection(s)");
    }
}

/// Sends SIGTERM to a running `vmkit copy` and returns how long it took to exit, and its output.
fn sigterm_after(
    mut command: Command,
    delay: std::time::Duration,
) -> (std::time::Duration, std::process::Output) {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    // SAFETY: signalling our own child, not reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let signalled = std::time::Instant::now();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    // Bounded: a copy that ignores the signal is killed after 20 s and the test fails.
    while !waiter.is_finished() && signalled.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let took = signalled.elapsed();
    if !waiter.is_finished() {
        // SAFETY: as above.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    (took, waiter.join().unwrap())
}

#[test]
fn sigterm_ends_a_copy_blocked_on_a_stalled_source_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    // Every read sleeps an hour: the copy is blocked in I/O when the signal comes.
    let server = Nbdkit::new("pattern")
        .arg("size=64M")
        .filter("delay")
        .arg("rdelay=3600")
        .start()
        .unwrap();
    let mut command = vmkit();
    command
        .arg("copy")
        .arg(server.uri())
        .arg(dir.path().join("dst.raw"));
    let (took, out) = sigterm_after(command, std::time::Duration::from_secs(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        took < std::time::Duration::from_secs(3),
        "exited {took:?} after SIGTERM: {stderr}"
    );
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    eprintln!("vmkit copy exited {took:?} after SIGTERM");
}

#[test]
fn sigterm_ends_a_copy_whose_server_is_silent_during_the_handshake() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let _ = std::io::copy(&mut &sock, &mut std::io::sink());
    });
    let dir = tempfile::tempdir().unwrap();
    let mut command = vmkit();
    command
        .arg("copy")
        .arg(format!("nbd://127.0.0.1:{port}/"))
        .arg(dir.path().join("dst.raw"));
    let (took, out) = sigterm_after(command, std::time::Duration::from_secs(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        took < std::time::Duration::from_secs(3),
        "exited {took:?} after SIGTERM: {stderr}"
    );
    assert!(!out.status.success());
    assert!(stderr.contains("interrupted"), "{stderr}");
    server.join().unwrap();
}

#[test]
fn a_copy_from_a_stalled_source_fails_within_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // One worker per connection: nbdkit 1.32 can abort when a second worker writes to the
    // socket the client gave up on, and then the reconnect finds no server.
    let server = Nbdkit::new("pattern")
        .option("--threads=1")
        .arg("size=16M")
        .filter("delay")
        .arg("rdelay=3600")
        .start()
        .unwrap();
    let started = std::time::Instant::now();
    let out = vmkit()
        .args(["copy", "--timeout", "1"])
        .arg(server.uri())
        .arg(dir.path().join("dst.raw"))
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        took < std::time::Duration::from_secs(10),
        "{took:?}: {stderr}"
    );
    assert!(stderr.contains("no complete reply to read"), "{stderr}");
    let zero = vmkit()
        .args(["copy", "--timeout", "0", "nbd://127.0.0.1/", "x"])
        .output()
        .unwrap();
    assert!(!zero.status.success());
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--timeout"));
}
