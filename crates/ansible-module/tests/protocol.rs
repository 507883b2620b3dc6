use ansible_module::{Context, Module, ModuleArgs, Response, Secret, run_module_with_args};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize, ModuleArgs)]
#[allow(dead_code)]
struct Args {
    server: String,
    #[arg(no_log)]
    password: Secret,
    #[arg(default = 30)]
    timeout: u64,
    #[arg(aliases = ["validate_certs_off"], default = false)]
    vmware_insecure: bool,
    #[arg(choices = ["cold", "warm"], default = "cold")]
    migration_type: String,
    #[arg(elements = "str")]
    vmname: Option<Vec<String>>,
    dst_cloud: Option<serde_json::Map<String, Value>>,
    #[arg(unused = "the original documented it but never read it")]
    debug_mode: Option<bool>,
    #[arg(type = "path")]
    data_dir: Option<String>,
}

struct Echo;

impl Module for Echo {
    const NAME: &'static str = "echo";
    type Args = Args;
    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        if args.server == "fail" {
            anyhow::bail!(
                "could not log in to {} with {}",
                args.server,
                args.password.expose()
            );
        }
        Ok(Response::new()
            .changed(!ctx.check_mode)
            .with("timeout", args.timeout)
            .with("insecure", args.vmware_insecure)
            .with("vmname", &args.vmname)
            .with("check_mode", ctx.check_mode)
            .with("echo_password_length", args.password.expose().len()))
    }
}

fn run(args: Value) -> Value {
    run_module_with_args::<Echo>(args)
}

fn msg(v: &Value) -> &str {
    v["msg"].as_str().unwrap_or_default()
}

#[test]
fn missing_required_key_is_named() {
    let out = run(json!({"password": "pw-test-1234"}));
    assert_eq!(out["failed"], true);
    assert!(
        msg(&out).contains("missing required arguments: server"),
        "{out}"
    );
}

#[test]
fn unknown_key_is_named_with_the_valid_ones() {
    let out = run(
        json!({"server": "a", "password": "pw-test-1234", "sever": 1, "_ansible_check_mode": false}),
    );
    assert_eq!(out["failed"], true);
    let m = msg(&out);
    assert!(
        m.contains("Unsupported parameters for (echo) module: sever."),
        "{m}"
    );
    assert!(m.contains("Supported parameters include:"), "{m}");
    assert!(m.contains("vmware_insecure (validate_certs_off)"), "{m}");
    assert!(!m.contains("_ansible"), "{m}");
}

#[test]
fn defaults_conversions_and_aliases_apply() {
    let out = run(json!({
        "server": "a", "password": "pw-test-1234", "timeout": "45", "validate_certs_off": "yes",
        "vmname": "vm1,vm2", "_ansible_check_mode": true, "_ansible_some_future_key": 1
    }));
    assert_eq!(out["failed"], false, "{out}");
    assert_eq!(out["timeout"], 45);
    assert_eq!(out["insecure"], true);
    assert_eq!(out["vmname"], json!(["vm1", "vm2"]));
    assert_eq!(out["check_mode"], true);
    assert_eq!(out["changed"], false);
}

#[test]
fn wrong_type_names_key_and_type() {
    let out = run(json!({"server": "a", "password": "pw-test-1234", "timeout": "soon"}));
    assert_eq!(out["failed"], true);
    assert!(msg(&out).contains("argument 'timeout'"), "{out}");
    assert!(msg(&out).contains("int"), "{out}");
}

#[test]
fn choices_are_enforced() {
    let out = run(json!({"server": "a", "password": "pw-test-1234", "migration_type": "hot"}));
    assert!(
        msg(&out).contains("value of migration_type must be one of: cold, warm, got: hot"),
        "{out}"
    );
}

#[test]
fn unused_compatibility_keys_warn() {
    let out = run(json!({"server": "a", "password": "pw-test-1234", "debug_mode": true}));
    assert_eq!(out["failed"], false);
    let warnings = out["warnings"].to_string();
    assert!(warnings.contains("debug_mode"), "{out}");
}

#[test]
fn null_values_count_as_unset() {
    let out = run(json!({"server": "a", "password": "pw-test-1234", "timeout": null}));
    assert_eq!(out["timeout"], 30, "{out}");
}

#[test]
fn secrets_never_appear_in_results_or_errors() {
    let sentinel = "S3NTINEL-no-log-9f1c";
    let ok = run(json!({"server": "a", "password": sentinel}));
    assert!(!ok.to_string().contains(sentinel), "{ok}");
    assert_eq!(
        ok["invocation"]["module_args"]["password"],
        "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    );

    let failed = run(json!({"server": "fail", "password": sentinel}));
    assert_eq!(failed["failed"], true);
    assert!(msg(&failed).contains("could not log in"), "{failed}");
    assert!(!failed.to_string().contains(sentinel), "{failed}");

    let nested = "N3STED-cloud-pw-77";
    let out = run(json!({"server": "fail", "password": "pw-test-5678",
        "dst_cloud": {"auth": {"password": nested}}}));
    assert!(!out.to_string().contains(nested), "{out}");

    let bad_type = run(json!({"server": "a", "password": sentinel, "timeout": sentinel}));
    assert!(!bad_type.to_string().contains(sentinel), "{bad_type}");
}

#[test]
fn spec_is_generated_from_the_struct() {
    let spec = Args::spec();
    let server = spec.iter().find(|a| a.name == "server").unwrap();
    assert!(server.required);
    let password = spec.iter().find(|a| a.name == "password").unwrap();
    assert!(password.no_log && password.required);
    let timeout = spec.iter().find(|a| a.name == "timeout").unwrap();
    assert!(!timeout.required);
    assert_eq!(timeout.default, Some("30"));
    let vmname = spec.iter().find(|a| a.name == "vmname").unwrap();
    assert_eq!(vmname.arg_type.ansible_name(), "list");
    assert_eq!(vmname.elements.map(|e| e.ansible_name()), Some("str"));
    let data_dir = spec.iter().find(|a| a.name == "data_dir").unwrap();
    assert_eq!(data_dir.arg_type.ansible_name(), "path");
}
