//! What a run tells the operator while it works: JSON progress lines (one per disk per interval,
//! events, a final summary) in the progress file, each with the `status` line to show, and a
//! plain-text log. Neither ever holds a secret: only names, ids, sizes and rates are written.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use conversion_host::private_files::{Open, open_private};
use serde_json::{Map, Value, json};

use crate::status::{Board, Span, Step};

pub struct Journal {
    vm: String,
    progress: Mutex<File>,
    log: Mutex<File>,
    board: Mutex<Board>,
}

/// A step of the run, ended (in the timeline) when dropped: a step cut short by an error ends
/// where it failed.
pub struct StepGuard<'a> {
    journal: &'a Journal,
    span: usize,
}

impl Drop for StepGuard<'_> {
    fn drop(&mut self) {
        self.journal.board().finish(self.span, &now_precise());
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn now_precise() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The log is in the VM's private directory; a progress file the caller named may be elsewhere
/// (the role's directory): its missing parents are made 0700, and it is opened as privately.
fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    open_private(path, Open::Append)
}

impl Journal {
    pub fn open(
        vm: &str,
        disks: &[i32],
        progress_file: &Path,
        log_file: &Path,
    ) -> std::io::Result<Self> {
        Ok(Journal {
            vm: vm.to_owned(),
            progress: Mutex::new(open_append(progress_file)?),
            log: Mutex::new(open_append(log_file)?),
            board: Mutex::new(Board::new(vm, disks)),
        })
    }

    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A step begins: logged, and shown as the status until it ends.
    pub fn step(&self, step: Step, disk: Option<i32>, detail: impl AsRef<str>) -> StepGuard<'_> {
        let detail = detail.as_ref();
        let span = self.board().begin(step, disk, detail, &now_precise());
        let disk_text = disk.map(|k| format!("disk {k}: ")).unwrap_or_default();
        self.log(format!("{}: {disk_text}{detail}", step.label()));
        let name = serde_json::to_value(step)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut fields =
            json!({ "event": format!("{name}_start"), "step": step, "message": detail });
        if let Some(key) = disk {
            fields["step_disk"] = json!(key);
        }
        self.record(fields);
        StepGuard {
            journal: self,
            span,
        }
    }

    /// The steps so far, with their start and end.
    pub fn timeline(&self) -> Vec<Span> {
        self.board().timeline()
    }

    /// The run's last line: the outcome, shown from now on.
    pub fn done(&self, line: String, summary: Value) {
        self.board().done(line);
        self.record(json!({ "summary": summary }));
    }

    /// A line of the text log (and a tracing event).
    pub fn log(&self, message: impl AsRef<str>) {
        let message = message.as_ref();
        tracing::info!(vm = %self.vm, "{message}");
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        // The log is for the operator: failing to write it must not fail the migration.
        let _ = writeln!(log, "{} {}: {message}", now(), self.vm);
    }

    /// One JSON line in the progress file, with `time`, `vm` and the `status` to show added.
    pub fn record(&self, fields: Value) {
        let mut line = Map::new();
        line.insert("time".into(), json!(now()));
        line.insert("vm".into(), json!(self.vm));
        let status = {
            let mut board = self.board();
            board.observe(&fields);
            board.line()
        };
        if let Value::Object(fields) = fields {
            line.extend(fields);
        }
        line.insert("status".into(), json!(status));
        let mut out = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{}", Value::Object(line)).and_then(|_| out.flush());
    }

    /// An event both in the log and, as `{"event": …}`, in the progress file.
    pub fn event(&self, event: &str, message: impl AsRef<str>) {
        let message = message.as_ref();
        self.log(message);
        self.board().event(event, message);
        self.record(json!({ "event": event, "message": message }));
    }
}
