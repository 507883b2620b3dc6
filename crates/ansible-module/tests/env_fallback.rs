//! `#[arg(env = [...])]`: an option the task leaves out is read from the environment, as
//! Ansible's `env_fallback` does (the VMware collections' VMWARE_HOST, VMWARE_PASSWORD, ...).

use ansible_module::{ModuleArgs, Secret, parse_invocation_in, secrets};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize, ModuleArgs)]
#[allow(dead_code)]
struct Args {
    #[arg(aliases = ["hostname"], env = ["TEST_HOST", "TEST_HOST_OLD"])]
    server: String,
    #[arg(no_log, env = ["TEST_PASSWORD"])]
    password: Secret,
    #[arg(default = 443, env = ["TEST_PORT"])]
    port: u16,
}

fn parse(raw: Value, env: &[(&str, &str)]) -> Result<ansible_module::Invocation, String> {
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    parse_invocation_in("echo", raw, Args::spec(), &lookup).map_err(|e| e.0)
}

#[test]
fn the_environment_fills_what_the_task_leaves_out() {
    let inv = parse(
        json!({}),
        &[
            ("TEST_HOST_OLD", "old.example.org"),
            ("TEST_PASSWORD", "env-secret-9"),
            ("TEST_PORT", "8443"),
        ],
    )
    .expect("valid");
    assert_eq!(inv.params["server"], "old.example.org");
    assert_eq!(inv.params["port"], 8443, "converted like a task's value");
    assert_eq!(inv.params["password"], "env-secret-9");
    assert_eq!(
        inv.module_args["password"], "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER",
        "a no_log value from the environment is masked like a given one"
    );
    assert_eq!(
        secrets::scrub_str("login failed with env-secret-9"),
        "login failed with ********"
    );
}

#[test]
fn the_task_wins_and_empty_variables_do_not_count() {
    let inv = parse(
        json!({"hostname": "given.example.org", "password": "given-pw-1"}),
        &[
            ("TEST_HOST", ""),
            ("TEST_HOST_OLD", "old.example.org"),
            ("TEST_PASSWORD", "env-pw-2"),
        ],
    )
    .expect("valid");
    assert_eq!(inv.params["server"], "given.example.org");
    assert_eq!(inv.params["password"], "given-pw-1");
    assert_eq!(inv.params["port"], 443);
    let inv = parse(
        json!({"password": "given-pw-1"}),
        &[("TEST_HOST", ""), ("TEST_HOST_OLD", "old.example.org")],
    )
    .expect("valid");
    assert_eq!(
        inv.params["server"], "old.example.org",
        "an empty first variable is skipped"
    );
}

#[test]
fn missing_names_the_variables_too() {
    let err = parse(json!({"server": "a"}), &[]).expect_err("no password");
    assert!(
        err.contains(
            "missing required arguments: password (or the environment variable TEST_PASSWORD)"
        ),
        "{err}"
    );
}
