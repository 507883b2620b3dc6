//! The wave report as markdown (GitHub-flavoured tables), for a ticket or a change record.

use std::fmt::Write;

use crate::wave::{Vm, Wave, clock, gib, seconds};
use crate::{step_label, what_to_fix};

/// A table cell: pipes and line breaks would end the cell or the row.
fn cell(text: &str) -> String {
    let text = text.replace('|', "\\|").replace(['\n', '\r'], " ");
    if text.is_empty() { "—".into() } else { text }
}

fn opt(value: Option<f64>) -> String {
    value.map_or("—".into(), seconds)
}

pub fn markdown(wave: &Wave, generated: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Migration wave report\n");
    let _ = writeln!(out, "Generated {}.\n", clock(generated));
    let _ = writeln!(
        out,
        "| VMs | Succeeded | Failed | Copied | Longest downtime |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {} |\n",
        wave.vms.len(),
        wave.vms.len() - wave.failed(),
        wave.failed(),
        gib(wave.bytes_copied()),
        opt(wave.longest_downtime())
    );
    let _ = writeln!(out, "## VMs\n");
    let _ = writeln!(
        out,
        "| VM | Status | Mode | Conversion host | Downtime | Copied | Duration | Flavor | Server |\n|---|---|---|---|---|---|---|---|---|"
    );
    for vm in &wave.vms {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&vm.name),
            cell(&vm.status),
            cell(&vm.mode),
            cell(&vm.conversion_host),
            opt(vm.downtime),
            gib(vm.bytes_copied),
            opt(vm.seconds),
            cell(&vm.flavor),
            cell(format!("{} {}", vm.server_id, vm.server_status).trim()),
        );
    }
    let failed: Vec<&Vm> = wave.vms.iter().filter(|v| v.failed).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\n## Failures\n");
        for vm in failed {
            let _ = writeln!(out, "### {}\n", vm.name);
            if !vm.failed_task.is_empty() {
                let _ = writeln!(out, "- Failed at: {}", vm.failed_task);
            }
            let _ = writeln!(out, "- Error: {}", cell(&vm.msg));
            let _ = writeln!(out, "- What to fix: {}", what_to_fix(vm));
            if !vm.log.is_empty() {
                let _ = writeln!(out, "- Log: `{}`", vm.log);
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out, "\n## Timeline\n");
    for vm in wave.vms.iter().filter(|v| !v.timeline.is_empty()) {
        let origin = vm
            .timeline
            .iter()
            .map(|s| s.start)
            .fold(f64::INFINITY, f64::min);
        let _ = writeln!(
            out,
            "### {}\n\nFrom {}.\n\n| Step | Disk | Start | Took |\n|---|---|---|---|",
            vm.name,
            clock(origin)
        );
        for step in &vm.timeline {
            let _ = writeln!(
                out,
                "| {} | {} | +{} | {} |",
                step_label(&step.step),
                step.disk.map_or("—".into(), |d| d.to_string()),
                seconds(step.start - origin),
                step.end
                    .map_or("did not end".into(), |e| seconds(e - step.start)),
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "## Disks\n\n| VM | Disk | Mode | Volume | Copied | Took | MiB/s |\n|---|---|---|---|---|---|---|"
    );
    for vm in &wave.vms {
        for d in &vm.disks {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {:.1} |",
                cell(&vm.name),
                cell(format!("{} {}", d.key, d.label).trim()),
                cell(&d.mode),
                cell(&d.volume_id),
                gib(d.bytes_copied),
                seconds(d.seconds),
                d.mib_per_s
            );
        }
    }
    for vm in wave.vms.iter().filter(|v| !v.rounds.is_empty()) {
        let columns = crate::html::round_columns(&vm.rounds);
        let _ = writeln!(out, "\n## Sync rounds of {}\n", vm.name);
        let _ = writeln!(
            out,
            "| # | {} |\n|---|{}",
            columns.join(" | "),
            "---|".repeat(columns.len())
        );
        for (i, round) in vm.rounds.iter().enumerate() {
            let values: Vec<String> = columns
                .iter()
                .map(|c| cell(&crate::html::round_value(c, round.get(c))))
                .collect();
            let _ = writeln!(out, "| {} | {} |", i + 1, values.join(" | "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_each_vm_and_escape_pipes() {
        let wave = Wave::parse(
            r#"[{"vm": "a|b", "status": "migrated", "disks": [{"key": 2000, "bytes_copied": 1073741824,
                "seconds": 2.0, "mib_per_s": 512.0}]},
               {"vm": "c", "status": "failed", "msg": "quota\nexceeded", "failed_task": "Create the server of c",
                "log": "/opt/os-migrate/c/migration.log", "source_power_restored": true}]"#,
        )
        .unwrap();
        let md = markdown(&wave, 1767225600.0);
        assert!(md.contains("| 2 | 1 | 1 | 1.00 GiB | — |"), "{md}");
        assert!(md.contains("| a\\|b | migrated |"), "{md}");
        assert!(md.contains("- Error: quota exceeded"), "{md}");
        assert!(md.contains("The source VM was powered on again."), "{md}");
        assert!(
            md.contains("| a\\|b | 2000 | — | — | 1.00 GiB | 2.0 s | 512.0 |"),
            "{md}"
        );
    }

    #[test]
    fn rounds_are_listed_when_present() {
        let wave = Wave::parse(
            r#"[{"vm": "w", "status": "migrated", "rounds": [{"round": 1, "bytes_copied": 10}, {"round": 2, "bytes_copied": 0, "note": "no changes"}]}]"#,
        )
        .unwrap();
        let md = markdown(&wave, 0.0);
        assert!(md.contains("## Sync rounds of w"), "{md}");
        assert!(md.contains("| 2 | 0.00 GiB | no changes | 2 |"), "{md}");
    }
}
