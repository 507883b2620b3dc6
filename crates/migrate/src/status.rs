//! The line an operator sees while a migration runs: its step (power-off, snapshot, volumes,
//! copy, conversion, …) and, while disks copy, each disk's and the VM's percent, rate and ETA.
//! Also the timeline of the steps, start and end, that the wave report draws and measures the
//! downtime with. Built here, where the run knows its state, so the roles only show the line.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// A step of a run. A disk's volume and copy steps run beside other disks' (disk_parallelism).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    PowerOff,
    Snapshot,
    /// Creating a disk's volume and attaching it to the conversion host.
    Volume,
    /// Copying a disk into its volume, and detaching it.
    Copy,
    SnapshotRemoval,
    Conversion,
    /// Marking the volumes final (converted, bootable, image properties).
    Finalize,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Step::PowerOff => "power-off",
            Step::Snapshot => "snapshot",
            Step::Volume => "volumes",
            Step::Copy => "copy",
            Step::SnapshotRemoval => "snapshot removal",
            Step::Conversion => "conversion",
            Step::Finalize => "finalize",
        }
    }
}

/// One step's start and end (RFC 3339, UTC); `ended` is absent while it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    pub step: Step,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<i32>,
    pub started: String,
    pub ended: Option<String>,
    #[serde(skip)]
    detail: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Disk {
    Waiting,
    Copying { done: u64, total: u64, rate: f64 },
    Done { bytes: u64, rate: f64 },
    NoChanges,
    Unchanged,
}

/// The state of one VM's run, fed by the journal.
#[derive(Debug)]
pub struct Board {
    vm: String,
    disks: BTreeMap<i32, Disk>,
    spans: Vec<Span>,
    message: String,
    end: Option<String>,
}

const MIB: f64 = 1048576.0;

impl Board {
    pub fn new(vm: &str, disks: &[i32]) -> Self {
        Board {
            vm: vm.to_owned(),
            disks: disks.iter().map(|k| (*k, Disk::Waiting)).collect(),
            spans: Vec::new(),
            message: "starting".into(),
            end: None,
        }
    }

    pub fn begin(&mut self, step: Step, disk: Option<i32>, detail: &str, now: &str) -> usize {
        self.spans.push(Span {
            step,
            disk,
            started: now.to_owned(),
            ended: None,
            detail: detail.to_owned(),
        });
        self.spans.len() - 1
    }

    pub fn finish(&mut self, span: usize, now: &str) {
        if let Some(s) = self.spans.get_mut(span) {
            s.ended.get_or_insert_with(|| now.to_owned());
        }
    }

    pub fn timeline(&self) -> Vec<Span> {
        self.spans.clone()
    }

    /// An event of the run: its message is the line while no step runs; `failed` ends the run.
    pub fn event(&mut self, event: &str, message: &str) {
        if event == "failed" {
            self.end = Some(message.to_owned());
        } else {
            self.message = message.to_owned();
        }
    }

    /// The run's result: the line from now on.
    pub fn done(&mut self, line: String) {
        self.end = Some(line);
    }

    /// A progress entry of the journal (`disk`, `phase`, `mode`, `bytes_done`, `bytes_total`,
    /// `mib_per_s`): the disk's state.
    pub fn observe(&mut self, fields: &Value) {
        let Some(key) = fields
            .get("disk")
            .and_then(Value::as_i64)
            .and_then(|k| i32::try_from(k).ok())
        else {
            return;
        };
        let number = |name: &str| fields.get(name).and_then(Value::as_u64).unwrap_or(0);
        let rate = fields
            .get("mib_per_s")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        let state = match fields.get("phase").and_then(Value::as_str) {
            Some("copy") => Disk::Copying {
                done: number("bytes_done"),
                total: number("bytes_total"),
                rate,
            },
            Some("done") if fields.get("mode").and_then(Value::as_str) == Some("unchanged") => {
                Disk::Unchanged
            }
            Some("done") if number("bytes_total") == 0 => Disk::NoChanges,
            Some("done") => Disk::Done {
                bytes: number("bytes_done"),
                rate,
            },
            _ => return,
        };
        self.disks.insert(key, state);
    }

    /// The line to show now.
    pub fn line(&self) -> String {
        if let Some(end) = &self.end {
            return format!("{}: {end}", self.vm);
        }
        let running: Vec<&Span> = self.spans.iter().filter(|s| s.ended.is_none()).collect();
        let disk_work = running
            .iter()
            .any(|s| matches!(s.step, Step::Volume | Step::Copy));
        if disk_work {
            return format!("{}: {}", self.vm, self.disks_line(&running));
        }
        match running.last() {
            Some(span) => format!("{}: {}: {}", self.vm, span.step.label(), span.detail),
            None => format!("{}: {}", self.vm, self.message),
        }
    }

    fn disks_line(&self, running: &[&Span]) -> String {
        let copying = self
            .disks
            .values()
            .any(|d| matches!(d, Disk::Copying { .. }));
        let started = self.disks.values().any(|d| *d != Disk::Waiting);
        let mut parts = Vec::new();
        for (key, disk) in &self.disks {
            let preparing = running
                .iter()
                .any(|s| s.step == Step::Volume && s.disk == Some(*key));
            parts.push(match disk {
                Disk::Waiting if preparing => format!("disk {key} preparing its volume"),
                Disk::Waiting => format!("disk {key} waiting"),
                Disk::Copying { done, total, rate } => {
                    format!("disk {key} {}", progress(*done, *total, *rate))
                }
                Disk::Done { bytes, rate } => {
                    format!("disk {key} done ({}, {rate:.1} MiB/s)", size(*bytes))
                }
                Disk::NoChanges => format!("disk {key} no changes"),
                Disk::Unchanged => format!("disk {key} unchanged"),
            });
        }
        let mut line = format!(
            "{}: {}",
            if started { "copy" } else { "volumes" },
            parts.join("; ")
        );
        if copying && self.disks.len() > 1 {
            let (mut done, mut total, mut rate, mut waiting) = (0, 0, 0.0, 0);
            for disk in self.disks.values() {
                match disk {
                    Disk::Copying {
                        done: d,
                        total: t,
                        rate: r,
                    } => {
                        done += d;
                        total += t;
                        rate += r;
                    }
                    Disk::Done { bytes, .. } => {
                        done += bytes;
                        total += bytes;
                    }
                    Disk::Waiting => waiting += 1,
                    Disk::NoChanges | Disk::Unchanged => {}
                }
            }
            line.push_str(&format!("; VM {}", progress(done, total, rate)));
            if waiting > 0 {
                line.push_str(&format!(" + {waiting} disk(s) to come"));
            }
        }
        line
    }
}

/// `41.2% (843.0 MiB/2.00 GiB, 212.4 MiB/s, ETA 4 s)`.
fn progress(done: u64, total: u64, rate: f64) -> String {
    let percent = if total == 0 {
        100.0
    } else {
        done as f64 * 100.0 / total as f64
    };
    let left = total.saturating_sub(done) as f64 / MIB;
    let eta = if rate > 0.0 && done < total {
        format!(", ETA {}", duration(left / rate))
    } else {
        String::new()
    };
    format!(
        "{percent:.1}% ({}/{}, {rate:.1} MiB/s{eta})",
        size(done),
        size(total)
    )
}

pub fn size(bytes: u64) -> String {
    let mib = bytes as f64 / MIB;
    if mib < 1024.0 {
        format!("{mib:.1} MiB")
    } else {
        format!("{:.2} GiB", mib / 1024.0)
    }
}

/// `4 s`, `2 min 05 s`, `1 h 02 min`: rounded up, an ETA should not promise too early.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).ceil() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: &str = "2026-01-01T00:00:00.000Z";

    #[test]
    fn steps_before_the_copy_are_shown() {
        let mut b = Board::new("web01", &[2000]);
        assert_eq!(b.line(), "web01: starting");
        let span = b.begin(
            Step::PowerOff,
            None,
            "shutting the guest down (up to 300 s)",
            T,
        );
        assert_eq!(
            b.line(),
            "web01: power-off: shutting the guest down (up to 300 s)"
        );
        b.finish(span, T);
        b.begin(Step::Snapshot, None, "taking the snapshot", T);
        assert_eq!(b.line(), "web01: snapshot: taking the snapshot");
    }

    #[test]
    fn copy_shows_each_disk_and_the_vm_with_eta() {
        let mut b = Board::new("web01", &[2000, 2001, 2002]);
        b.begin(Step::Volume, Some(2001), "creating", T);
        b.begin(Step::Copy, Some(2000), "copying", T);
        assert_eq!(
            b.line(),
            "web01: volumes: disk 2000 waiting; disk 2001 preparing its volume; disk 2002 waiting"
        );
        b.observe(
            &json!({"disk": 2000, "phase": "copy", "bytes_done": 512u64 << 20,
            "bytes_total": 2048u64 << 20, "mib_per_s": 100.0}),
        );
        assert_eq!(
            b.line(),
            "web01: copy: disk 2000 25.0% (512.0 MiB/2.00 GiB, 100.0 MiB/s, ETA 16 s); \
             disk 2001 preparing its volume; disk 2002 waiting; \
             VM 25.0% (512.0 MiB/2.00 GiB, 100.0 MiB/s, ETA 16 s) + 2 disk(s) to come"
        );
        b.observe(&json!({"disk": 2001, "phase": "copy", "bytes_done": 0,
            "bytes_total": 1024u64 << 20, "mib_per_s": 0.0}));
        b.observe(
            &json!({"disk": 2002, "phase": "done", "mode": "delta", "bytes_done": 0,
            "bytes_total": 0}),
        );
        assert!(
            b.line().ends_with(
                "disk 2002 no changes; VM 16.7% (512.0 MiB/3.00 GiB, 100.0 MiB/s, ETA 26 s)"
            ),
            "{}",
            b.line()
        );
    }

    #[test]
    fn an_empty_delta_says_no_changes_not_zero_percent() {
        let mut b = Board::new("db", &[2000]);
        b.begin(Step::Copy, Some(2000), "", T);
        b.observe(
            &json!({"disk": 2000, "phase": "done", "mode": "delta", "bytes_done": 0,
            "bytes_total": 0, "percent": 100.0}),
        );
        assert_eq!(b.line(), "db: copy: disk 2000 no changes");
        assert!(!b.line().contains("0.0/0.0"));
    }

    #[test]
    fn the_end_is_said_once() {
        let mut b = Board::new("db", &[2000]);
        b.done("done: 1 disk(s), 1.0 MiB copied in 2.0 s".into());
        assert_eq!(b.line(), "db: done: 1 disk(s), 1.0 MiB copied in 2.0 s");
        let mut b = Board::new("db", &[2000]);
        b.event("failed", "failed: cannot power off");
        b.event("power_on", "the source VM was powered on again");
        assert_eq!(b.line(), "db: failed: cannot power off");
    }

    #[test]
    fn the_timeline_keeps_each_step_with_its_end() {
        let mut b = Board::new("db", &[2000]);
        let s = b.begin(Step::PowerOff, None, "", "2026-01-01T00:00:00.000Z");
        b.finish(s, "2026-01-01T00:00:05.000Z");
        b.finish(s, "2026-01-01T00:00:09.000Z");
        b.begin(Step::Copy, Some(2000), "", "2026-01-01T00:00:06.000Z");
        let t = serde_json::to_value(b.timeline()).unwrap();
        assert_eq!(
            t,
            json!([
                {"step": "power_off", "started": "2026-01-01T00:00:00.000Z", "ended": "2026-01-01T00:00:05.000Z"},
                {"step": "copy", "disk": 2000, "started": "2026-01-01T00:00:06.000Z", "ended": null},
            ])
        );
    }

    #[test]
    fn a_finished_copy_promises_no_eta() {
        assert_eq!(
            progress(8 << 20, 8 << 20, 94.0),
            "100.0% (8.0 MiB/8.0 MiB, 94.0 MiB/s)"
        );
    }

    #[test]
    fn durations_round_up() {
        assert_eq!(duration(0.2), "1 s");
        assert_eq!(duration(125.0), "2 min 05 s");
        assert_eq!(duration(3720.0), "1 h 02 min");
    }
}
