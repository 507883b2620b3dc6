//! `migration_report`: the wave report (markdown and one self-contained HTML file) from
//! `migration-summary.json`, written beside it, and a copy of both, the summary and the VMs'
//! fetched logs in a directory that outlives the job (AAP's job container does not). Runs on
//! the controller; the work is in the `wave-report` crate.

use std::path::{Path, PathBuf};

use ansible_module::{Context, Module, ModuleArgs, Response};
use anyhow::Context as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use wave_report::Wave;

pub struct MigrationReport;

#[derive(Debug, Deserialize, ModuleArgs)]
pub struct Args {
    /// The per-VM results the migration playbook wrote (`migration-summary.json`).
    #[arg(type = "path")]
    pub summary: String,
    /// Where the reports go; the summary's directory when absent.
    #[arg(type = "path")]
    pub dest: Option<String>,
    /// A directory that outlives the job: the summary, both reports and the VMs' logs found on
    /// the controller are copied into a new `wave-<UTC time>` directory in it.
    #[arg(type = "path")]
    pub archive_dir: Option<String>,
}

impl Module for MigrationReport {
    const NAME: &'static str = "migration_report";
    type Args = Args;

    fn run(args: Args, ctx: &mut Context) -> anyhow::Result<Response> {
        let summary = PathBuf::from(&args.summary);
        let dest = match &args.dest {
            Some(d) => PathBuf::from(d),
            None => summary
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        if !summary.is_file() {
            anyhow::bail!(
                "argument 'summary': no file {}; the migration playbook writes it as \
                 <os_migrate_vmw_data_dir>/migration-summary.json",
                summary.display()
            );
        }
        if ctx.check_mode {
            let text = std::fs::read_to_string(&summary).with_context(|| {
                format!("argument 'summary': cannot read {}", summary.display())
            })?;
            let wave = Wave::parse(&text).context("argument 'summary'")?;
            return Ok(Response::new()
                .changed(true)
                .msg(format!(
                    "would write the report of {} VM(s)",
                    wave.vms.len()
                ))
                .with("lines", lines(&wave))
                .with("figures", figures(&wave)));
        }
        let (wave, md, page) = wave_report::write(&summary, &dest).map_err(|e| match e {
            wave_report::Error::Io { .. } => anyhow::anyhow!("{e}"),
            e => anyhow::anyhow!("argument 'summary' ({}): {e}", summary.display()),
        })?;
        let mut response = Response::new()
            .changed(true)
            .msg(format!(
                "report of {} VM(s), {} failed: {}",
                wave.vms.len(),
                wave.failed(),
                page.display()
            ))
            .with("markdown", json!(md))
            .with("html", json!(page))
            .with("lines", lines(&wave))
            .with("figures", figures(&wave));
        if let Some(root) = &args.archive_dir {
            let (dir, logs) = archive(Path::new(root), &summary, &md, &page, &wave)
                .with_context(|| format!("argument 'archive_dir' ({root})"))?;
            response = response
                .with("archive", json!(dir))
                .with("archived_logs", json!(logs));
        }
        Ok(response)
    }
}

fn lines(wave: &Wave) -> Value {
    json!(wave.vms.iter().map(|v| v.line()).collect::<Vec<_>>())
}

fn gib(bytes: u64) -> f64 {
    (bytes as f64 / (1u64 << 30) as f64 * 100.0).round() / 100.0
}

/// The wave's figures for `set_stats` (AAP keeps them with the job and passes them on in a
/// workflow).
fn figures(wave: &Wave) -> Value {
    let per_vm: Map<String, Value> = wave
        .vms
        .iter()
        .map(|v| {
            (
                v.name.clone(),
                json!({
                    "status": v.status,
                    "downtime_s": v.downtime.map(|d| (d * 10.0).round() / 10.0),
                    "gib_copied": gib(v.bytes_copied),
                }),
            )
        })
        .collect();
    json!({
        "vms": wave.vms.len(),
        "succeeded": wave.vms.len() - wave.failed(),
        "failed": wave.failed(),
        "gib_copied": gib(wave.bytes_copied()),
        "longest_downtime_s": wave.longest_downtime().map(|d| (d * 10.0).round() / 10.0),
        "per_vm": per_vm,
    })
}

/// Copies the summary, the reports and each VM's log that is on this machine into
/// `<root>/wave-<UTC time>/` (logs as `logs/<vm>.log`).
fn archive(
    root: &Path,
    summary: &Path,
    md: &Path,
    page: &Path,
    wave: &Wave,
) -> anyhow::Result<(PathBuf, Vec<String>)> {
    let stamp = wave_report::clock(wave_report::now())
        .trim_end_matches(" UTC")
        .replace(['-', ':'], "")
        .replace(' ', "T");
    let mut dir = root.join(format!("wave-{stamp}Z"));
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = root.join(format!("wave-{stamp}Z-{n}"));
    }
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    for file in [summary, md, page] {
        let name = file.file_name().unwrap_or_default();
        std::fs::copy(file, dir.join(name))
            .with_context(|| format!("cannot copy {} into {}", file.display(), dir.display()))?;
    }
    let mut logs = Vec::new();
    for vm in wave.vms.iter().filter(|v| !v.log.is_empty()) {
        let log = Path::new(&vm.log);
        if log.is_file() {
            let target = dir
                .join("logs")
                .join(format!("{}.log", vm.name.replace('/', "_")));
            std::fs::copy(log, &target)
                .with_context(|| format!("cannot copy {} into {}", log.display(), dir.display()))?;
            logs.push(target.display().to_string());
        }
    }
    Ok((dir, logs))
}
