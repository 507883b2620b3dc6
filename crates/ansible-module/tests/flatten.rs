//! `#[arg(flatten)]`: a group of options shared by several modules, merged into each one's spec.

use ansible_module::{Context, Module, ModuleArgs, Response, Secret, run_module_with_args};
use serde::Deserialize;
use serde_json::json;

/// Shared by several modules.
#[derive(Debug, Deserialize, ModuleArgs)]
struct Connection {
    #[arg(aliases = ["hostname"])]
    server: String,
    #[arg(no_log)]
    password: Secret,
    #[arg(default = false)]
    insecure: bool,
    port: Option<u16>,
}

#[derive(Debug, Deserialize, ModuleArgs)]
struct Args {
    #[arg(choices = ["cold", "warm"], default = "cold")]
    migration_type: String,
    #[serde(flatten)]
    #[arg(flatten)]
    connection: Connection,
    #[arg(elements = "str")]
    vmname: Option<Vec<String>>,
}

struct Echo;

impl Module for Echo {
    const NAME: &'static str = "echo";
    type Args = Args;
    fn run(args: Args, _: &mut Context) -> anyhow::Result<Response> {
        Ok(Response::new().with(
            "seen",
            json!({
                "server": args.connection.server,
                "password_length": args.connection.password.expose().len(),
                "insecure": args.connection.insecure,
                "port": args.connection.port,
                "migration_type": args.migration_type,
                "vmname": args.vmname,
            }),
        ))
    }
}

#[test]
fn the_spec_holds_the_flattened_options_in_the_fields_place() {
    let names: Vec<&str> = Args::spec().iter().map(|a| a.name).collect();
    assert_eq!(
        names,
        [
            "migration_type",
            "server",
            "password",
            "insecure",
            "port",
            "vmname"
        ]
    );
    let password = Args::spec().iter().find(|a| a.name == "password").unwrap();
    assert!(password.no_log && password.required);
    assert!(std::ptr::eq(Args::spec(), Args::spec()), "built once");
}

#[test]
fn flattened_options_parse_convert_and_answer_to_aliases() {
    let result = run_module_with_args::<Echo>(json!({
        "hostname": "vc.example.com",
        "password": "s3cret-Value",
        "insecure": "yes",
        "port": "443",
        "vmname": "web01",
    }));
    assert_eq!(result["failed"], false, "{result:#}");
    assert_eq!(
        result["seen"],
        json!({"server": "vc.example.com", "password_length": 12, "insecure": true, "port": 443,
               "migration_type": "cold", "vmname": ["web01"]})
    );
    assert!(!result.to_string().contains("s3cret-Value"), "{result:#}");
}

#[test]
fn unknown_and_missing_keys_name_every_option_of_the_merged_spec() {
    let result = run_module_with_args::<Echo>(json!({"server": "vc", "pasword": "x"}));
    let msg = result["msg"].as_str().unwrap();
    assert_eq!(result["failed"], true);
    assert!(
        msg.contains("missing required arguments: password"),
        "{msg}"
    );
    assert!(
        msg.contains(
            "Supported parameters include: insecure, migration_type, password, port, server (hostname), vmname."
        ),
        "{msg}"
    );
}
