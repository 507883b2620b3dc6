//! `vmkit validate`: pre-migration checks, as the `validate` module does.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use anyhow::anyhow;
use validation::{FailOn, Plan};

use crate::cli::inventory::{VsphereArgs, parse_mapping};
use crate::modules::export_metadata::network_map;
use crate::modules::validate::{ValidateRequest, migration_type, response, run_validation};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub vsphere: VsphereArgs,
    #[arg(long, default_value = "cold", value_parser = ["cold", "warm"])]
    pub migration_type: String,
    /// PORTGROUP=NETWORK[,SUBNET] (repeat); when given, NICs on unmapped networks are reported.
    #[arg(long = "network-map", value_parser = parse_mapping)]
    pub network_map: Vec<(String, String)>,
    /// A datastore that volume_type_mapping maps (repeat); when given, others are reported.
    #[arg(long = "mapped-datastore")]
    pub mapped_datastores: Vec<String>,
    /// The guests' IPs are to be kept as fixed IPs.
    #[arg(long)]
    pub use_fixed_ips: bool,
    /// A rule id to skip (repeat).
    #[arg(long = "skip-rule")]
    pub skip_rules: Vec<String>,
    #[arg(long, default_value = "critical", value_parser = ["critical", "warning", "never"])]
    pub fail_on: String,
    /// Print the module's JSON result instead of one line per finding.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let password = args.vsphere.password()?;
    let map: BTreeMap<String, String> = args.network_map.iter().cloned().collect();
    let request = ValidateRequest {
        connection: args.vsphere.connection(&password),
        selection: args.vsphere.selection(),
        plan: Plan {
            migration_type: migration_type(&args.migration_type)?,
            network_map: network_map(Some(&map), None)?,
            mapped_datastores: (!args.mapped_datastores.is_empty()).then(|| {
                args.mapped_datastores
                    .iter()
                    .cloned()
                    .collect::<BTreeSet<_>>()
            }),
            use_fixed_ips: args.use_fixed_ips,
            skip_rules: args.skip_rules.iter().cloned().collect(),
        },
        fail_on: FailOn::parse(&args.fail_on)
            .ok_or_else(|| anyhow!("--fail-on {}", args.fail_on))?,
    };
    let (findings, unread) = run_validation(&request)?;
    let result = response(&findings, &unread, request.fail_on);
    if args.json {
        let mut data = result.data.clone();
        data.insert("failed".into(), result.failed.into());
        if let Some(msg) = &result.msg {
            data.insert("msg".into(), msg.clone().into());
        }
        println!("{}", serde_json::to_string_pretty(&data)?);
    } else {
        for f in &findings {
            let severity = serde_json::to_value(f.severity)?;
            println!(
                "{}\t{}\t{}\t{}\t{}",
                f.vm,
                severity.as_str().unwrap_or_default(),
                f.id,
                f.object,
                f.message
            );
        }
        if let Some(msg) = &result.msg {
            eprintln!("{msg}");
        }
    }
    Ok(if result.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
