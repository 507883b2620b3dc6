//! What a run tells the operator while it works: JSON progress lines (one per disk per interval,
//! events, a final summary) in the progress file, and a plain-text log. Neither ever holds a
//! secret: only names, ids, sizes and rates are written.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use conversion_host::private_files::{Open, open_private};
use serde_json::{Map, Value, json};

pub struct Journal {
    vm: String,
    progress: Mutex<File>,
    log: Mutex<File>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
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
    pub fn open(vm: &str, progress_file: &Path, log_file: &Path) -> std::io::Result<Self> {
        Ok(Journal {
            vm: vm.to_owned(),
            progress: Mutex::new(open_append(progress_file)?),
            log: Mutex::new(open_append(log_file)?),
        })
    }

    /// A line of the text log (and a tracing event).
    pub fn log(&self, message: impl AsRef<str>) {
        let message = message.as_ref();
        tracing::info!(vm = %self.vm, "{message}");
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        // The log is for the operator: failing to write it must not fail the migration.
        let _ = writeln!(log, "{} {}: {message}", now(), self.vm);
    }

    /// One JSON line in the progress file, with `time` and `vm` added.
    pub fn record(&self, fields: Value) {
        let mut line = Map::new();
        line.insert("time".into(), json!(now()));
        line.insert("vm".into(), json!(self.vm));
        if let Value::Object(fields) = fields {
            line.extend(fields);
        }
        let mut out = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{}", Value::Object(line)).and_then(|_| out.flush());
    }

    /// An event both in the log and, as `{"event": …}`, in the progress file.
    pub fn event(&self, event: &str, message: impl AsRef<str>) {
        let message = message.as_ref();
        self.log(message);
        self.record(json!({ "event": event, "message": message }));
    }
}
