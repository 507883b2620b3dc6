//! A `no_log` value must appear nowhere — stdout, stderr, logs — on the success, failure and
//! panic paths. The test binary re-executes itself as a module process (`child_module`), so
//! the real panic hook, logging and exit paths run.

use std::process::Command;

use ansible_module::{Context, Module, ModuleArgs, Response, Secret, run_module};
use serde::Deserialize;
use serde_json::{Value, json};

const SENTINEL: &str = "Zq9-S3NTINEL-secret-0042";

#[derive(Debug, Deserialize, ModuleArgs)]
struct Args {
    user: String,
    #[arg(no_log)]
    password: Secret,
    #[arg(choices = ["succeed", "fail", "panic"])]
    outcome: String,
}

struct Leaky;

impl Module for Leaky {
    const NAME: &'static str = "leaky";
    type Args = Args;
    fn run(args: Args, _ctx: &mut Context) -> anyhow::Result<Response> {
        // Everything a careless module might do with a secret.
        tracing::warn!(
            "logging in as {} with password {}",
            args.user,
            args.password.expose()
        );
        eprintln!("debug print of {args:?}");
        match args.outcome.as_str() {
            "fail" => anyhow::bail!("login failed for password {}", args.password.expose()),
            "panic" => panic!("unexpected state with {}", args.password.expose()),
            _ => Ok(Response::new().msg(format!("used {}", args.password.expose()))),
        }
    }
}

#[test]
fn child_module() {
    let Ok(args_file) = std::env::var("LEAKY_ARGS_FILE") else {
        return;
    };
    let code = run_module::<Leaky>(&["leaky".into(), args_file.into()]);
    // ExitCode has no accessor; success and failure are all the parent checks.
    std::process::exit(if code == std::process::ExitCode::SUCCESS {
        0
    } else {
        1
    });
}

fn run_child(outcome: &str) -> (bool, String, String) {
    run_child_with(outcome, SENTINEL)
}

fn run_child_with(outcome: &str, password: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let args_file = dir.path().join("args.json");
    std::fs::write(
        &args_file,
        json!({"user": "admin", "password": password, "outcome": outcome,
               "_ansible_verbosity": 4})
        .to_string(),
    )
    .unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_module", "--nocapture", "--test-threads=1"])
        .env("LEAKY_ARGS_FILE", &args_file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn module_result(stdout: &str) -> Value {
    // libtest prints its own progress around the child's output, on the same line.
    let json_lines: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.find('{').map(|i| &l[i..]))
        .collect();
    assert_eq!(json_lines.len(), 1, "one JSON object in {stdout:?}");
    serde_json::from_str(json_lines[0]).unwrap()
}

#[test]
fn secret_is_masked_on_success() {
    let (ok, stdout, stderr) = run_child("succeed");
    assert!(ok);
    assert_eq!(module_result(&stdout)["msg"], "used ********");
    assert!(
        stderr.contains("logging in as admin"),
        "logs are written: {stderr}"
    );
    assert!(
        !stdout.contains(SENTINEL) && !stderr.contains(SENTINEL),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn secret_is_masked_on_failure() {
    let (ok, stdout, stderr) = run_child("fail");
    assert!(!ok);
    let result = module_result(&stdout);
    assert_eq!(result["failed"], true);
    assert_eq!(result["msg"], "login failed for password ********");
    assert!(
        !stdout.contains(SENTINEL) && !stderr.contains(SENTINEL),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn secret_is_masked_on_panic() {
    let (ok, stdout, stderr) = run_child("panic");
    assert!(!ok);
    let result = module_result(&stdout);
    assert_eq!(result["failed"], true);
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .contains("unexpected state with ********")
    );
    assert!(
        !stdout.contains(SENTINEL) && !stderr.contains(SENTINEL),
        "{stdout}\n{stderr}"
    );
}

#[test]
fn a_one_character_secret_is_not_masked_inside_words_and_is_called_weak() {
    let (ok, stdout, _) = run_child_with("succeed", "e");
    assert!(ok);
    let result = module_result(&stdout);
    // Masking every "e" would show where the secret is in every word, so revealing it.
    assert_eq!(result["msg"], "used e", "{result}");
    let warnings = result["warnings"].to_string();
    assert!(
        warnings.contains("option 'password'") && warnings.contains("weak"),
        "{result}"
    );
}
