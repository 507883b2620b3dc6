//! `vmkit validate`: pre-migration checks, as the `validate` module does.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use anyhow::anyhow;
use validation::{FailOn, Plan};

use crate::cli::inventory::{VsphereArgs, parse_mapping};
use crate::modules::export_metadata::network_map;
use crate::modules::validate::{
    CloudRequest, ValidateRequest, migration_type, response, run_validation, transport,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub vsphere: VsphereArgs,
    #[arg(long, default_value = "cold", value_parser = ["cold", "warm"])]
    pub migration_type: String,
    /// A warm migration turns changed block tracking on itself.
    #[arg(long)]
    pub enable_cbt: bool,
    #[arg(long, default_value = "vddk", value_parser = ["vddk", "https", "file"])]
    pub transport: String,
    /// The destination cloud (clouds.yaml name); when given, what the plan needs there is
    /// checked too. `--os-env` checks the cloud of OS_CLOUD / OS_* instead.
    #[arg(long)]
    pub dst_cloud: Option<String>,
    #[arg(long, conflicts_with = "dst_cloud")]
    pub os_env: bool,
    /// DATASTORE=TYPE (repeat): volume_type_mapping, for the cloud check.
    #[arg(long = "volume-type-mapping", value_parser = parse_mapping)]
    pub volume_type_mapping: Vec<(String, String)>,
    /// The volumes' type when the datastore is not mapped.
    #[arg(long)]
    pub volume_type: Option<String>,
    #[arg(long)]
    pub volume_availability_zone: Option<String>,
    #[arg(long)]
    pub availability_zone: Option<String>,
    #[arg(long)]
    pub key_name: Option<String>,
    /// A security group of the ports (repeat).
    #[arg(long = "security-group")]
    pub security_groups: Vec<String>,
    #[arg(long)]
    pub flavor: Option<String>,
    /// Without --flavor, a flavor is made for each VM even when an existing one fits.
    #[arg(long)]
    pub no_existing_flavor: bool,
    /// The cloud that creates flavors (clouds.yaml name; default: the destination cloud).
    #[arg(long)]
    pub flavor_cloud: Option<String>,
    /// The network of NICs that --network-map does not map.
    #[arg(long)]
    pub network_name: Option<String>,
    /// Volumes only: no server, so no key pair, flavor or instance quota is needed.
    #[arg(long)]
    pub no_server: bool,
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
            enable_cbt: args.enable_cbt,
            transport: transport(&args.transport)?,
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
        cloud: (args.dst_cloud.is_some() || args.os_env).then(|| CloudRequest {
            dst_cloud: args.dst_cloud.clone().map(serde_json::Value::String),
            volume_type_mapping: args.volume_type_mapping.iter().cloned().collect(),
            volume_type: args.volume_type.clone(),
            volume_availability_zone: args.volume_availability_zone.clone(),
            server_availability_zone: args.availability_zone.clone(),
            key_name: args.key_name.clone(),
            security_groups: args.security_groups.clone(),
            flavor: args.flavor.clone(),
            use_existing_flavor: !args.no_existing_flavor,
            flavor_cloud: args.flavor_cloud.clone().map(serde_json::Value::String),
            boot_from_volume: true,
            network_name: args.network_name.clone(),
            servers: !args.no_server,
        }),
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
