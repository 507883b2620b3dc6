//! Progress and other events of a running copy, and a JSON-lines writer for them.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub bytes_per_second: u64,
}

/// What a running copy tells its observer. Observers run on copy threads: keep them short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Progress(Progress),
    /// A request failed and will be tried again after a backoff.
    Retry {
        offset: u64,
        length: u64,
        attempt: u32,
        cause: String,
    },
    /// A worker lost its source connection and is opening a new one.
    Reconnect {
        worker: usize,
        offset: u64,
    },
}

/// Writes each [`Progress`] as one JSON line:
/// `{"bytes_done":…,"bytes_total":…,"bytes_per_second":…}`.
pub struct JsonLines {
    out: Mutex<Box<dyn Write + Send>>,
}

impl JsonLines {
    /// `-` is standard output; anything else a file path (e.g. `/dev/fd/3`), appended to.
    pub fn open(target: &str) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = if target == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(target)?)
        };
        Ok(JsonLines {
            out: Mutex::new(out),
        })
    }

    pub fn from_writer(out: Box<dyn Write + Send>) -> Self {
        JsonLines {
            out: Mutex::new(out),
        }
    }

    pub fn observe(&self, event: &Event) {
        if let Event::Progress(p) = event
            && let Ok(line) = serde_json::to_string(p)
        {
            let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
            // Progress is advisory: a closed pipe must not fail the copy.
            let _ = writeln!(out, "{line}").and_then(|_| out.flush());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_documented_json_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        let lines = JsonLines::open(path.to_str().unwrap()).unwrap();
        lines.observe(&Event::Progress(Progress {
            bytes_done: 5,
            bytes_total: 10,
            bytes_per_second: 2,
        }));
        lines.observe(&Event::Reconnect {
            worker: 0,
            offset: 0,
        });
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"bytes_done\":5,\"bytes_total\":10,\"bytes_per_second\":2}\n"
        );
    }
}
