//! The figures of a wave, read from `migration-summary.json` (the list of per-VM results the
//! playbook writes). Read leniently: Ansible may write a number as a string, and entries of VMs
//! that failed before their migration have few fields.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::Error;

/// One step of a VM's timeline, in seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub step: String,
    pub disk: Option<i64>,
    pub start: f64,
    /// Absent for a step a failure cut short.
    pub end: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Disk {
    pub key: String,
    pub label: String,
    pub mode: String,
    pub volume_id: String,
    pub bytes_copied: u64,
    pub seconds: f64,
    pub mib_per_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vm {
    pub name: String,
    pub status: String,
    pub failed: bool,
    pub mode: String,
    pub conversion_host: String,
    pub seconds: Option<f64>,
    pub started: Option<f64>,
    pub bytes_copied: u64,
    /// Power-off began to the server ACTIVE; absent when the VM was not powered off by the run
    /// or no server became ACTIVE.
    pub downtime: Option<f64>,
    pub flavor: String,
    pub server_id: String,
    pub server_status: String,
    pub server_active_at: Option<f64>,
    pub msg: String,
    pub failed_task: String,
    pub log: String,
    pub source_power_restored: Option<bool>,
    pub disks: Vec<Disk>,
    pub timeline: Vec<Step>,
    /// Warm sync rounds, as the summary has them.
    pub rounds: Vec<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Wave {
    pub vms: Vec<Vm>,
}

impl Wave {
    pub fn parse(text: &str) -> Result<Wave, Error> {
        let value: Value = serde_json::from_str(text).map_err(Error::Json)?;
        let Value::Array(entries) = value else {
            return Err(Error::Shape(
                "the summary must be a list of per-VM results".into(),
            ));
        };
        let vms = entries
            .iter()
            .enumerate()
            .map(|(i, e)| Vm::parse(i, e))
            .collect::<Result<_, _>>()?;
        Ok(Wave { vms })
    }

    pub fn failed(&self) -> usize {
        self.vms.iter().filter(|v| v.failed).count()
    }

    pub fn bytes_copied(&self) -> u64 {
        self.vms.iter().map(|v| v.bytes_copied).sum()
    }

    pub fn longest_downtime(&self) -> Option<f64> {
        self.vms
            .iter()
            .filter_map(|v| v.downtime)
            .fold(None, |m, d| Some(m.map_or(d, |m: f64| m.max(d))))
    }

    /// The earliest and latest instant of any VM's run or step.
    pub fn span(&self) -> Option<(f64, f64)> {
        let mut points = Vec::new();
        for vm in &self.vms {
            if let Some(s) = vm.started {
                points.push(s);
                points.extend(vm.seconds.map(|d| s + d));
            }
            for step in &vm.timeline {
                points.push(step.start);
                points.extend(step.end);
            }
            points.extend(vm.server_active_at);
        }
        let min = points.iter().copied().fold(f64::INFINITY, f64::min);
        let max = points.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (min.is_finite() && max.is_finite()).then_some((min, max))
    }
}

fn text(entry: &Value, key: &str) -> String {
    match entry.get(key) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn number(entry: &Value, key: &str) -> Option<f64> {
    match entry.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// RFC 3339 (`2026-01-01T00:00:00.123Z`) or seconds since the epoch.
fn instant(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<f64>() {
                return Some(n);
            }
            // Python's isoformat of an aware UTC time ends in +00:00; ours and strftime's in Z.
            let s = s.trim_end_matches("+00:00").trim_end_matches('Z');
            let t = humantime::parse_rfc3339_weak(s).ok()?;
            Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
        }
        _ => None,
    }
}

impl Vm {
    fn parse(index: usize, entry: &Value) -> Result<Vm, Error> {
        let name = text(entry, "vm");
        if name.is_empty() {
            return Err(Error::Shape(format!(
                "entry {index} of the summary has no `vm` name"
            )));
        }
        let status = text(entry, "status");
        let disks: Vec<Disk> = entry
            .get("disks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|d| Disk {
                key: text(d, "key"),
                label: text(d, "label"),
                mode: text(d, "mode"),
                volume_id: text(d, "volume_id"),
                bytes_copied: number(d, "bytes_copied").unwrap_or(0.0) as u64,
                seconds: number(d, "seconds").unwrap_or(0.0),
                mib_per_s: number(d, "mib_per_s").unwrap_or(0.0),
            })
            .collect();
        let timeline: Vec<Step> = entry
            .get("timeline")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some(Step {
                    step: text(s, "step"),
                    disk: s.get("disk").and_then(Value::as_i64),
                    start: instant(s.get("started"))?,
                    end: instant(s.get("ended")),
                })
            })
            .collect();
        let server_active_at = instant(entry.get("server_active_at"));
        let mut timeline = timeline;
        // Ports and server come after migrate, in the role: from its last step to ACTIVE.
        if let Some(active) = server_active_at {
            let last = timeline
                .iter()
                .map(|s| s.end.unwrap_or(s.start))
                .fold(f64::NEG_INFINITY, f64::max);
            if last.is_finite() && last <= active {
                timeline.push(Step {
                    step: "server".into(),
                    disk: None,
                    start: last,
                    end: Some(active),
                });
            }
        }
        let powered_off = text(entry, "power_off");
        let downtime = match (
            timeline.iter().find(|s| s.step == "power_off"),
            server_active_at,
        ) {
            (Some(off), Some(active))
                if powered_off != "already_off" && !powered_off.is_empty() =>
            {
                Some((active - off.start).max(0.0))
            }
            _ => None,
        };
        Ok(Vm {
            failed: status == "failed",
            mode: text(entry, "mode"),
            conversion_host: text(entry, "conversion_host"),
            seconds: number(entry, "seconds"),
            started: number(entry, "started"),
            bytes_copied: disks.iter().map(|d| d.bytes_copied).sum(),
            downtime,
            flavor: text(entry, "flavor"),
            server_id: text(entry, "server_id"),
            server_status: text(entry, "server_status"),
            server_active_at,
            msg: text(entry, "msg"),
            failed_task: text(entry, "failed_task"),
            log: text(entry, "log"),
            source_power_restored: entry.get("source_power_restored").and_then(|v| match v {
                Value::Bool(b) => Some(*b),
                Value::String(s) => Some(s.eq_ignore_ascii_case("true")),
                _ => None,
            }),
            rounds: entry
                .get("rounds")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_object().cloned())
                .collect(),
            disks,
            timeline,
            name,
            status,
        })
    }

    /// The line the playbook prints for this VM at the end.
    pub fn line(&self) -> String {
        let mut line = format!("{}: {}", self.name, self.status);
        if !self.mode.is_empty() {
            line.push_str(&format!(" ({})", self.mode));
        }
        if !self.conversion_host.is_empty() {
            line.push_str(&format!(" on {}", self.conversion_host));
        }
        if let Some(s) = self.seconds {
            line.push_str(&format!(" in {}", seconds(s)));
        }
        if self.failed {
            if !self.failed_task.is_empty() {
                line.push_str(&format!(" at {:?}", self.failed_task));
            }
            if !self.msg.is_empty() {
                line.push_str(&format!(": {}", self.msg));
            }
            return line;
        }
        if let Some(d) = self.downtime {
            line.push_str(&format!(", downtime {}", seconds(d)));
        }
        line.push_str(&format!(", {} copied", gib(self.bytes_copied)));
        // Without a server the flavor is only the plan's, often an id.
        if !self.server_id.is_empty() {
            if !self.flavor.is_empty() {
                line.push_str(&format!(", flavor {}", self.flavor));
            }
            line.push_str(&format!(
                ", server {} {}",
                self.server_id, self.server_status
            ));
        }
        line.trim_end().to_owned()
    }
}

/// `1.25 GiB`: the report's unit for copied bytes (two decimals).
pub fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// `41.2 s`: the report's unit for durations (one decimal).
pub fn seconds(s: f64) -> String {
    format!("{s:.1} s")
}

/// `2026-01-01 12:00:00 UTC`.
pub fn clock(epoch: f64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs_f64(epoch.max(0.0));
    let text = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} UTC", text.trim_end_matches('Z').replace('T', " "))
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"[{"vm": "web01", "status": "migrated", "mode": "cold",
        "conversion_host": "conv-a", "started": "1767225600.0", "seconds": 80.5,
        "power_off": "guest_shutdown", "server_active_at": "2026-01-01T00:01:10.500Z",
        "flavor": "m1.small", "server_id": "s-1", "server_status": "ACTIVE",
        "disks": [{"key": 2000, "bytes_copied": 1073741824, "seconds": 4.0, "mib_per_s": 256.0},
                  {"key": 2001, "bytes_copied": 536870912, "seconds": 2.0, "mib_per_s": 256.0}],
        "timeline": [{"step": "power_off", "started": "2026-01-01T00:00:10.000Z", "ended": "2026-01-01T00:00:20.000Z"},
                     {"step": "copy", "disk": 2000, "started": "2026-01-01T00:00:25.000Z", "ended": null}]},
        {"vm": "db", "status": "failed", "msg": "no flavor", "volumes": [], "server_id": null}]"#;

    #[test]
    fn downtime_runs_from_power_off_to_active() {
        let wave = Wave::parse(ONE).unwrap();
        let web = &wave.vms[0];
        assert_eq!(web.downtime, Some(60.5));
        assert_eq!(web.bytes_copied, 3 << 29);
        assert_eq!(web.timeline[1].end, None);
        assert_eq!(web.timeline[2].step, "server");
        assert_eq!(web.timeline[2].end, Some(1767225670.5));
        assert_eq!(wave.failed(), 1);
        assert_eq!(wave.vms[1].server_id, "");
        assert_eq!(
            web.line(),
            "web01: migrated (cold) on conv-a in 80.5 s, downtime 60.5 s, 1.50 GiB copied, \
             flavor m1.small, server s-1 ACTIVE"
        );
        assert_eq!(wave.vms[1].line(), "db: failed: no flavor");
    }

    #[test]
    fn a_copy_without_server_does_not_show_the_plans_flavor_id() {
        let wave = Wave::parse(
            r#"[{"vm": "c", "status": "copied", "flavor": "403ae30a-7847-4852-9f07-318f4a536f9c"}]"#,
        )
        .unwrap();
        assert_eq!(wave.vms[0].line(), "c: copied, 0.00 GiB copied");
    }

    #[test]
    fn a_vm_already_off_has_no_downtime_of_ours() {
        let text = ONE.replace("guest_shutdown", "already_off");
        assert_eq!(Wave::parse(&text).unwrap().vms[0].downtime, None);
    }

    #[test]
    fn a_summary_that_is_not_a_list_is_refused() {
        assert!(matches!(Wave::parse("{}"), Err(Error::Shape(_))));
        assert!(matches!(Wave::parse("[{}]"), Err(Error::Shape(m)) if m.contains("entry 0")));
    }

    #[test]
    fn times_are_read_in_each_form_ansible_writes() {
        for t in [
            "2026-01-01T00:00:10.5Z",
            "2026-01-01T00:00:10.500000+00:00",
            "2026-01-01T00:00:10.500000Z",
            "1767225610.5",
        ] {
            assert_eq!(instant(Some(&Value::from(t))), Some(1767225610.5), "{t}");
        }
    }

    #[test]
    fn clock_is_utc() {
        assert_eq!(clock(1767225600.0), "2026-01-01 00:00:00 UTC");
    }
}
