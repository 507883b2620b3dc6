//! `inflight_limit`: takes (or gives back) a VM's place among the migrations in flight on its
//! ESXi host and datastores, so that no more than N of a run's migrations read from one host or
//! datastore at once, whichever conversion host and slot runs them. Runs on the controller,
//! where every slot of the run sees the same directory; the work is in the `inflight` crate.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use ansible_module::{Context, Module, ModuleArgs, Response};
use inflight::{Request, acquire, release};
use rustix::process::Pid;
use serde::Deserialize;
use serde_json::json;

pub struct InflightLimit;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// The run's directory of places, on the controller (one per run of the playbook).
    #[arg(type = "path")]
    pub dir: String,
    /// The VM that takes or gives back its places.
    pub vm_name: String,
    /// The ESXi host the VM runs on (export_metadata's `hw_esxi_host`).
    pub esxi_host: Option<String>,
    /// The datastores of the VM's disks and home (export_metadata's `hw_datastores`).
    #[arg(default = [], elements = "str")]
    pub datastores: Vec<String>,
    /// VMs of one ESXi host in flight at once; 0: no limit.
    #[arg(default = 0)]
    pub max_per_esxi: u32,
    /// VMs with a disk on one datastore in flight at once; 0: no limit.
    #[arg(default = 0)]
    pub max_per_datastore: u32,
    #[arg(default = "acquired", choices = ["acquired", "released"])]
    pub state: String,
    /// Seconds to wait for the places before failing.
    #[arg(default = 86400)]
    pub timeout: u64,
    /// Seconds between two looks at the places while waiting.
    #[arg(default = 1)]
    pub poll_interval: u64,
}

impl Module for InflightLimit {
    const NAME: &'static str = "inflight_limit";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        let dir = Path::new(&args.dir);
        if args.vm_name.trim().is_empty() {
            anyhow::bail!("argument 'vm_name' is empty: name the VM whose places these are");
        }
        if args.state == "released" {
            if ctx.check_mode {
                return Ok(Response::new().msg("would give the places back"));
            }
            let held = release(dir, &args.vm_name)?;
            return Ok(Response::new().changed(held).msg(if held {
                format!("{}: places given back", args.vm_name)
            } else {
                format!("{}: held no place", args.vm_name)
            }));
        }
        let request = Request {
            holder: args.vm_name.clone(),
            limits: limits(&args)?,
        };
        if ctx.check_mode {
            return Ok(Response::new()
                .changed(true)
                .msg(format!("would wait for a place on {}", describe(&request))));
        }
        let acquired = acquire(
            dir,
            &request,
            Duration::from_secs(args.timeout),
            Duration::from_secs(args.poll_interval.max(1)),
            caller_watch(),
        )
        .map_err(|e| match e {
            inflight::Error::TimedOut { .. } => anyhow::anyhow!(
                "{}: {e}; raise os_migrate_inflight_wait_timeout, or the limits \
                 os_migrate_max_inflight_per_esxi / os_migrate_max_inflight_per_datastore",
                args.vm_name
            ),
            e => anyhow::anyhow!("{}: {e}", args.vm_name),
        })?;
        let waited_s = (acquired.waited.as_secs_f64() * 10.0).round() / 10.0;
        Ok(Response::new()
            .changed(acquired.newly)
            .msg(format!(
                "{}: in flight on {} after {waited_s} s",
                args.vm_name,
                describe(&request)
            ))
            .with("waited_s", json!(waited_s))
            .with("in_flight", json!(acquired.in_flight)))
    }
}

fn limits(args: &Args) -> anyhow::Result<BTreeMap<String, u32>> {
    let mut limits = BTreeMap::new();
    if let Some(host) = args.esxi_host.as_deref().filter(|h| !h.is_empty()) {
        limits.insert(format!("ESXi host {host}"), args.max_per_esxi);
    } else if args.max_per_esxi > 0 {
        anyhow::bail!(
            "argument 'esxi_host' is missing but max_per_esxi is {}: give the VM's ESXi host \
             (hw_esxi_host of its guest_info.json) or max_per_esxi: 0",
            args.max_per_esxi
        );
    }
    for datastore in args.datastores.iter().filter(|d| !d.is_empty()) {
        limits.insert(format!("datastore {datastore}"), args.max_per_datastore);
    }
    Ok(limits)
}

fn describe(request: &Request) -> String {
    let limited: Vec<String> = request
        .limited()
        .map(|(resource, limit)| format!("{resource} (at most {limit})"))
        .collect();
    if limited.is_empty() {
        "no limited resource".into()
    } else {
        limited.join(", ")
    }
}

/// Ansible runs the module through a shell its worker started; when the worker is gone (the
/// play was cancelled, the controller died) the shell or this process is re-parented. A wait
/// then ends at once instead of living on for up to its timeout.
fn caller_watch() -> impl FnMut() -> Result<(), String> {
    let parent = rustix::process::getppid();
    let grandparent = parent.and_then(parent_of);
    move || {
        let now = rustix::process::getppid();
        if now != parent || now.and_then(parent_of) != grandparent {
            return Err("the Ansible task that waited is gone".into());
        }
        Ok(())
    }
}

fn parent_of(pid: Pid) -> Option<Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())).ok()?;
    // The command name may hold spaces and parentheses: the fields after it follow the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let ppid: i32 = after_name.split_whitespace().nth(1)?.parse().ok()?;
    Pid::from_raw(ppid)
}
