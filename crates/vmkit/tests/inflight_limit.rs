//! `inflight_limit` run as Ansible runs it: places taken and given back, a bounded wait that
//! says who holds the host, and a wait that ends when the task that started it is gone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn module(dir: &Path) -> PathBuf {
    let link = dir.join("AnsiballZ_inflight_limit");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_vmkit"), &link).unwrap();
    }
    link
}

fn args_file(dir: &Path, name: &str, args: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, args.to_string()).unwrap();
    path
}

fn run(dir: &Path, args: Value) -> Value {
    let file = args_file(dir, "args", &args);
    // The module needs nothing of the test's environment, as Ansible gives it little.
    let out = Command::new(module(dir))
        .arg(file)
        .env_clear()
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn a_second_vm_of_a_full_host_waits_then_fails_naming_who_holds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let places = tmp.path().join("inflight/run-1");
    let ask = |vm: &str, timeout: u64| {
        json!({"dir": places, "vm_name": vm, "esxi_host": "esx-07", "datastores": ["gold"],
               "max_per_esxi": 1, "max_per_datastore": 0, "timeout": timeout})
    };
    let first = run(tmp.path(), ask("web01", 5));
    assert_eq!(first["failed"], false, "{first}");
    assert_eq!(first["changed"], true);
    assert_eq!(first["in_flight"], json!({"ESXi host esx-07": ["web01"]}));

    let started = Instant::now();
    let second = run(tmp.path(), ask("db01", 1));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the wait is bounded"
    );
    assert_eq!(second["failed"], true, "{second}");
    assert_eq!(
        second["msg"],
        "db01: no place within 1 s: ESXi host esx-07 has 1 of 1 in flight (web01); raise \
         os_migrate_inflight_wait_timeout, or the limits os_migrate_max_inflight_per_esxi / \
         os_migrate_max_inflight_per_datastore"
    );

    let given_back = run(
        tmp.path(),
        json!({"dir": places, "vm_name": "web01", "state": "released"}),
    );
    assert_eq!(given_back["changed"], true, "{given_back}");
    let again = run(
        tmp.path(),
        json!({"dir": places, "vm_name": "web01", "state": "released"}),
    );
    assert_eq!(
        again["changed"], false,
        "nothing left to give back: {again}"
    );
    let now_free = run(tmp.path(), ask("db01", 1));
    assert_eq!(now_free["changed"], true, "{now_free}");
    let mode = std::fs::metadata(&places).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o700
    );
}

#[test]
fn a_limit_without_the_vms_host_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let result = run(
        tmp.path(),
        json!({"dir": tmp.path().join("p"), "vm_name": "web01", "max_per_esxi": 4}),
    );
    assert_eq!(result["failed"], true);
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .starts_with("argument 'esxi_host' is missing but max_per_esxi is 4"),
        "{result}"
    );
    assert!(!tmp.path().join("p").exists(), "changed nothing");
}

/// Ansible runs a module through a shell its worker started. When the worker goes (a
/// cancelled play), the shell is re-parented and the wait ends instead of living on.
#[test]
fn a_wait_ends_when_the_task_that_started_it_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let places = tmp.path().join("places");
    let held = run(
        tmp.path(),
        json!({"dir": places, "vm_name": "web01", "esxi_host": "esx-07", "max_per_esxi": 1}),
    );
    assert_eq!(held["changed"], true, "{held}");
    let waiter = args_file(
        tmp.path(),
        "waiter",
        &json!({"dir": places, "vm_name": "db01", "esxi_host": "esx-07", "max_per_esxi": 1,
                "timeout": 600}),
    );
    let out = tmp.path().join("waiter.out");
    // The "worker" (outer sh) starts the "shell" (inner sh) that runs the module, then dies.
    let status = Command::new("sh")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .arg("-c")
        .arg(r#"sh -c '"$0" "$1" > "$2"' "$0" "$1" "$2" & sleep 1"#)
        .arg(module(tmp.path()))
        .arg(&waiter)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let result: Value = loop {
        if let Some(value) = std::fs::read_to_string(&out)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
        {
            break value;
        }
        assert!(
            Instant::now() < deadline,
            "the waiter outlived its task by 14 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(result["failed"], true, "{result}");
    assert_eq!(
        result["msg"],
        "db01: stopped while waiting for a place (the Ansible task that waited is gone)"
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(places.join("places.json")).unwrap()).unwrap();
    assert_eq!(state["queue"], json!([]), "it left the queue: {state}");
}
