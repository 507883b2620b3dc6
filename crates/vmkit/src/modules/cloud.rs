//! What the OpenStack modules share: connecting to the `cloud`/`dst_cloud` argument (a
//! clouds.yaml name or the original's inline dict; absent: `OS_CLOUD` or the `OS_*` environment),
//! and deleting by name or id.

use std::time::Duration;

use ansible_module::{Context, Response};
use anyhow::Context as _;
use openstack::{Client, CloudArg};
use serde_json::Value;
use target_cloud::delete::{Deleted, Kind, delete};

/// A region_name the catalog knows under another spelling becomes a warning of the module.
pub(crate) async fn connect(
    ctx: &mut Context,
    argument: &str,
    value: Option<&Value>,
) -> anyhow::Result<Client> {
    let client = connect_reporting_region_in_findings(argument, value).await?;
    if let Some(warning) = client.region_warning() {
        ctx.warn(format!("argument {argument}: {warning}"));
    }
    Ok(client)
}

/// The client only: for `validate`, whose pre-flight reports the region as a finding.
pub(crate) async fn connect_reporting_region_in_findings(
    argument: &str,
    value: Option<&Value>,
) -> anyhow::Result<Client> {
    let cloud = match value {
        Some(value) => {
            CloudArg::from_value(value).with_context(|| format!("argument {argument}"))?
        }
        None => None,
    };
    openstack::connect(cloud.as_ref())
        .await
        .with_context(|| format!("cannot connect to the cloud given by {argument}"))
}

/// The result of a delete_* module: `changed`, `msg`, and the `id` deleted (or that would be).
pub(crate) fn delete_module(
    ctx: &mut Context,
    kind: Kind,
    cloud: Option<&Value>,
    name: &str,
    check_mode: bool,
    wait: bool,
    timeout: u64,
) -> anyhow::Result<Response> {
    let what = kind.name();
    super::block_on(async {
        let client = connect(ctx, "cloud", cloud).await?;
        let wait = wait.then(|| Duration::from_secs(timeout));
        let outcome = delete(&client, kind, name, check_mode, wait)
            .await
            .with_context(|| format!("cannot delete {what} {name:?}"))?;
        Ok(match outcome {
            Deleted::Deleted { id } => Response::new()
                .changed(true)
                .msg(format!("deleted {what} {name:?} ({id})"))
                .with("id", id),
            Deleted::WouldDelete { id } => Response::new()
                .changed(true)
                .msg(format!("would delete {what} {name:?} ({id})"))
                .with("id", id),
            Deleted::Absent => Response::new()
                .msg(format!(
                    "no {what} named or with id {name:?}: nothing to delete"
                ))
                .with("id", Value::Null),
        })
    })?
}

/// Reads one of the VM's data files (written by export_metadata) into its migration-data type.
pub(crate) fn read_data_file<T: serde::de::DeserializeOwned>(
    argument: &str,
    path: &str,
) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("argument {argument}: cannot read {path}; run export_metadata for this VM first")
    })?;
    serde_json::from_str(&text).with_context(|| {
        format!("argument {argument}: {path} is not the file export_metadata writes")
    })
}

/// One of the VM's data, from the file argument `path_argument` or given inline as
/// `inline_argument` (export_metadata's `metadata` in check mode, which writes no file): exactly
/// one of them.
pub(crate) fn data_file_or_inline<T: serde::de::DeserializeOwned>(
    (path_argument, path): (&str, Option<&str>),
    (inline_argument, inline): (&str, Option<&Value>),
    file: &str,
) -> anyhow::Result<T> {
    match (path, inline) {
        (Some(path), None) => read_data_file(path_argument, path),
        (None, Some(value)) => T::deserialize(value).with_context(|| {
            format!("argument {inline_argument}: not what export_metadata writes into {file}")
        }),
        (Some(_), Some(_)) => anyhow::bail!(
            "arguments {path_argument} and {inline_argument} are mutually exclusive: give the path of {file} or its content, not both"
        ),
        (None, None) => anyhow::bail!(
            "give {path_argument} (the VM's {file}, as export_metadata wrote it) or {inline_argument} (its content)"
        ),
    }
}
