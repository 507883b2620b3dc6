//! One disk's bytes: nbdkit serving the frozen disk → our copy engine → the volume's device.
//! Runs on a blocking thread: nbdkit and the engine are synchronous.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use conversion_host::nbdkit::{NbdkitServer, ServerOptions, Source, StopWhen};
use copy_engine::{Area, ConnectOptions, CopyOptions, CopyReport, Event, FileSink, NbdSource};
use serde_json::json;

use crate::cleanup::Cleanup;
use crate::error::{Result, Step};
use crate::journal::Journal;

pub struct Transfer {
    pub disk_key: i32,
    pub volume_id: String,
    pub source: Source,
    pub device: PathBuf,
    pub capacity_bytes: u64,
    /// `None`: the whole disk; else only these areas (a changed-block delta).
    pub areas: Option<Vec<Area>>,
    /// The volume was created empty by this run and the backend gives zeroed volumes.
    pub destination_is_zero: bool,
    pub nbdkit_log: PathBuf,
    pub nbdkit_verbose: bool,
    /// Bound of the NBD handshake and of each request (see `nbd::ConnectOptions::with_timeout`).
    pub nbd_timeout: Duration,
}

pub fn run(transfer: Transfer, cleanup: Arc<Cleanup>, journal: Arc<Journal>) -> Result<CopyReport> {
    let _in_flight = cleanup.copy_started();
    let key = transfer.disk_key;
    let cancel = cleanup.cancel_handle();
    let server = NbdkitServer::start(
        &transfer.source,
        &ServerOptions {
            log_file: Some(transfer.nbdkit_log.clone()),
            verbose: transfer.nbdkit_verbose,
            stop: {
                let cancel = cancel.clone();
                StopWhen::new(move || cancel.is_cancelled())
            },
            ..ServerOptions::default()
        },
    )
    .step(|| format!("disk {key}: cannot serve the source disk with nbdkit"))?;
    let uri = server.uri();
    let connect = cancel.connect_options(&ConnectOptions::with_timeout(transfer.nbd_timeout));
    let source: NbdSource = copy_engine::open_source_with(&uri, &connect)
        .step(|| format!("disk {key}: cannot read the source through nbdkit"))?;
    let sink = FileSink::open(&transfer.device, copy_engine::Source::size(&source)).step(|| {
        format!(
            "disk {key}: cannot open the volume's device {}",
            transfer.device.display()
        )
    })?;
    if copy_engine::Source::size(&source) != transfer.capacity_bytes {
        return Err(crate::error::Error::Refused(format!(
            "disk {key}: nbdkit serves {} bytes but vSphere says the disk holds {}; refusing a partial copy",
            copy_engine::Source::size(&source),
            transfer.capacity_bytes
        )));
    }
    let options = CopyOptions {
        destination_is_zero: transfer.destination_is_zero,
        areas: transfer.areas.clone(),
        cancel: Some(cancel),
        progress_interval: Duration::from_secs(2),
        ..CopyOptions::default()
    };
    let mode = if transfer.areas.is_some() {
        "delta"
    } else {
        "full"
    };
    let volume_id = transfer.volume_id.clone();
    let observe = |event: &Event| {
        if let Event::Progress(p) = event {
            let percent = if p.bytes_total == 0 {
                100.0
            } else {
                (p.bytes_done as f64 * 1000.0 / p.bytes_total as f64).round() / 10.0
            };
            journal.record(json!({
                "disk": key,
                "volume_id": volume_id,
                "phase": "copy",
                "mode": mode,
                "bytes_done": p.bytes_done,
                "bytes_total": p.bytes_total,
                "percent": percent,
                "mib_per_s": (p.bytes_per_second as f64 / 1048576.0 * 10.0).round() / 10.0,
            }));
        }
    };
    let report = copy_engine::copy(&source, &sink, &options, &observe)
        .step(|| format!("disk {key}: copy to volume {} failed", transfer.volume_id));
    drop(sink);
    drop(source);
    // Stop nbdkit before anything else happens to the disk (the snapshot's removal).
    drop(server);
    report
}
