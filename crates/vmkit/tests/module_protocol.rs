//! The real executable, run the way Ansible runs a binary module: a file named
//! `AnsiballZ_<module>` with one argument, the JSON arguments file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vmkit"))
}

/// A directory holding the executable under a module's wrapper name, as Ansible's remote tmp does.
fn as_module(dir: &Path, module: &str) -> PathBuf {
    let link = dir.join(format!("AnsiballZ_{module}"));
    std::os::unix::fs::symlink(exe(), &link).unwrap();
    link
}

fn run_module(module: &str, args: &Value, env: &[(&str, &str)]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let program = as_module(dir.path(), module);
    let args_file = dir.path().join("args");
    std::fs::write(&args_file, args.to_string()).unwrap();
    let out = Command::new(program)
        .arg(&args_file)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one line of JSON on stdout: {stdout:?}"
    );
    let value: Value = serde_json::from_str(lines[0]).expect("stdout is one JSON object");
    assert!(value.is_object());
    (out, value)
}

#[test]
fn conversion_host_info_reports_this_host() {
    let data = tempfile::tempdir().unwrap();
    let (out, result) = run_module(
        "conversion_host_info",
        &json!({"os_migrate_vmw_data_dir": data.path(), "_ansible_check_mode": false}),
        &[],
    );
    assert!(out.status.success(), "{result}");
    assert_eq!(result["failed"], false);
    assert_eq!(result["changed"], false);
    let facts = &result["conversion_host"];
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(facts["cpus"], cpus);
    assert_eq!(facts["free_space"]["measured_path"], json!(data.path()));
    assert!(facts["memory"]["total_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn missing_required_key_fails_with_its_name() {
    let (out, result) = run_module("conversion_host_info", &json!({}), &[]);
    assert!(!out.status.success());
    assert_eq!(result["failed"], true);
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .contains("missing required arguments: os_migrate_vmw_data_dir"),
        "{result}"
    );
}

#[test]
fn unknown_key_is_named_with_the_valid_ones() {
    let (out, result) = run_module(
        "conversion_host_info",
        &json!({"os_migrate_vmw_data_dir": "/tmp", "lib_dir": "/x"}),
        &[],
    );
    assert!(!out.status.success());
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("Unsupported parameters for (conversion_host_info) module: lib_dir."),
        "{msg}"
    );
    assert!(
        msg.contains("libdir (conversion_host_vmware_lib_dir)"),
        "{msg}"
    );
    assert!(msg.contains("os_migrate_vmw_data_dir"), "{msg}");
}

#[test]
fn a_panic_still_prints_one_failed_json_object() {
    let sentinel = "PANIC-S3NTINEL-4411";
    let (out, result) = run_module(
        "conversion_host_info",
        &json!({"os_migrate_vmw_data_dir": "/tmp"}),
        &[("VMKIT_TEST_PANIC", sentinel)],
    );
    assert!(!out.status.success());
    assert_eq!(result["failed"], true);
    assert!(
        result["msg"].as_str().unwrap().contains("internal error"),
        "{result}"
    );
}

#[test]
fn without_an_arguments_file_it_says_how_to_run_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(as_module(dir.path(), "conversion_host_info"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["failed"], true);
    assert!(result["msg"].as_str().unwrap().contains("Ansible module"));
}

#[test]
fn vmkit_cli_lists_and_runs_modules() {
    let out = Command::new(exe()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("vmkit 3."));

    let out = Command::new(exe()).arg("modules").output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "conversion_host_info")
    );

    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("args.json");
    std::fs::write(
        &args,
        json!({"os_migrate_vmw_data_dir": "/tmp"}).to_string(),
    )
    .unwrap();
    let out = Command::new(exe())
        .args(["module", "conversion_host_info"])
        .arg(&args)
        .output()
        .unwrap();
    assert!(out.status.success());
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["failed"], false);

    let out = Command::new(exe())
        .args(["module", "nope", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("conversion_host_info"));
}

/// migration_report on the 3-VM fixture wave: both reports beside the summary, an archive with
/// the log it finds, one line per VM, the figures; a missing summary is named.
#[test]
fn migration_report_writes_archives_and_names_a_missing_summary() {
    let data = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/wave-report/migration-summary.json");
    let log = data.path().join("web01.log");
    std::fs::write(&log, "migrate log\n").unwrap();
    let mut wave: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    wave[0]["log"] = json!(log);
    let summary = data.path().join("migration-summary.json");
    std::fs::write(&summary, wave.to_string()).unwrap();
    let archive = data.path().join("reports");
    let (_, result) = run_module(
        "migration_report",
        &json!({"summary": summary, "archive_dir": archive}),
        &[],
    );
    assert_eq!(result["failed"], json!(false), "{result:#}");
    for file in ["migration-report.md", "migration-report.html"] {
        assert!(data.path().join(file).is_file(), "no {file}");
    }
    let lines = result["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0]
            .as_str()
            .unwrap()
            .contains("downtime 65.2 s, 4.50 GiB copied, flavor m1.medium")
    );
    assert_eq!(result["figures"]["failed"], json!(1));
    let dir = PathBuf::from(result["archive"].as_str().unwrap());
    assert!(dir.starts_with(&archive) && dir.join("migration-report.html").is_file());
    assert_eq!(
        std::fs::read_to_string(dir.join("logs/web01.log")).unwrap(),
        "migrate log\n"
    );

    let (_, missing) = run_module(
        "migration_report",
        &json!({"summary": data.path().join("none.json")}),
        &[],
    );
    assert_eq!(missing["failed"], json!(true));
    assert!(
        missing["msg"]
            .as_str()
            .unwrap()
            .starts_with("argument 'summary': no file "),
        "{missing:#}"
    );
}
