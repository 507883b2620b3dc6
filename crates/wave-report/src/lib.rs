//! The report of a migration wave for operators and change boards, from the per-VM results in
//! `migration-summary.json`: per-VM status, downtime (power-off to server ACTIVE), GiB copied,
//! flavor and server; a timeline of each VM's steps; per-disk throughput; warm sync rounds;
//! failures with what to fix. As markdown and as one self-contained HTML file (inline CSS, no
//! scripts, nothing fetched), so it opens anywhere, offline, and can be attached to a ticket.

mod html;
mod markdown;
mod wave;

pub use html::html;
pub use markdown::markdown;
pub use wave::{Disk, Step, Vm, Wave, clock, gib, now, seconds};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the summary is not JSON: {0}")]
    Json(serde_json::Error),
    #[error("{0}")]
    Shape(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The names of the report's files, beside the summary.
pub const MARKDOWN_FILE: &str = "migration-report.md";
pub const HTML_FILE: &str = "migration-report.html";

/// Reads the summary and writes both reports into `dest`; returns the wave and their paths.
pub fn write(summary: &Path, dest: &Path) -> Result<(Wave, PathBuf, PathBuf), Error> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    let text = std::fs::read_to_string(summary).map_err(io(summary))?;
    let wave = Wave::parse(&text)?;
    let generated = now();
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    let md = dest.join(MARKDOWN_FILE);
    let page = dest.join(HTML_FILE);
    std::fs::write(&md, markdown(&wave, generated)).map_err(io(&md))?;
    std::fs::write(&page, html(&wave, generated)).map_err(io(&page))?;
    Ok((wave, md, page))
}

/// The order and names steps are drawn with; a step not listed is drawn last, by its own name.
pub(crate) const STEPS: &[(&str, &str)] = &[
    ("power_off", "power-off"),
    ("snapshot", "snapshot"),
    ("volume", "volumes"),
    ("copy", "copy"),
    ("snapshot_removal", "snapshot removal"),
    ("conversion", "conversion"),
    ("finalize", "finalize"),
    ("server", "ports and server"),
];

pub(crate) fn step_label(step: &str) -> &str {
    STEPS
        .iter()
        .find(|(k, _)| *k == step)
        .map_or(step, |(_, l)| l)
}

/// What to do about a failed VM, after its message (which names the cause).
pub(crate) fn what_to_fix(vm: &Vm) -> String {
    let mut out = String::new();
    if vm.msg.is_empty() {
        out.push_str("See the log. ");
    }
    if vm.source_power_restored == Some(true) {
        out.push_str("The source VM was powered on again. ");
    }
    out.push_str(&format!(
        "Fix what the message names, then run the migration again for this VM \
         (vms_list: [{}]).",
        vm.name
    ));
    out
}
