//! `vmkit copy SRC DST`: copy an NBD export to a file, block device or another NBD export.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use copy_engine::{Area, ConnectOptions, CopyError, CopyOptions, Event, JsonLines};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source NBD URI: nbd+unix:///EXPORT?socket=PATH or nbd://HOST:PORT/EXPORT.
    source: String,
    /// Destination: an NBD URI, a regular file (created if missing) or a block device.
    destination: String,
    /// Source connections, used only if the server allows several [default: one per CPU,
    /// at most 4].
    #[arg(long)]
    connections: Option<usize>,
    /// Requests in flight per connection [default: 16].
    #[arg(long)]
    requests: Option<usize>,
    /// Bytes per read request (and write to a file or block device), e.g. 262144, 256K or
    /// 2M; capped to the server's maximum [default: 2M].
    #[arg(long, value_parser = parse_size)]
    request_size: Option<u32>,
    /// The destination already reads as zeroes (e.g. a new volume): zero runs are skipped.
    #[arg(long)]
    destination_is_zero: bool,
    /// Write a file or block device through the page cache instead of with direct I/O
    /// (O_DIRECT, used by default where the target takes it).
    #[arg(long)]
    buffered: bool,
    /// Copy only these areas: a JSON file holding a list of {"start": N, "length": N}.
    #[arg(long, value_name = "FILE")]
    areas: Option<PathBuf>,
    /// Write progress as JSON lines to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE|-")]
    progress: Option<String>,
    /// Seconds one NBD wait may take: the negotiation, or one request until its last reply
    /// byte (connecting: at most 30). A stalled server fails the copy after one reconnect.
    #[arg(long, value_name = "SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
}

fn parse_size(text: &str) -> Result<u32, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("not a size: {text:?}"))?;
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" | "KIB" => 1 << 10,
        "M" | "MIB" => 1 << 20,
        _ => return Err(format!("unknown unit in {text:?} (use K or M)")),
    };
    number
        .checked_mul(scale)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n >= 512)
        .ok_or_else(|| format!("request size {text:?} must be between 512 bytes and 4 GiB"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let defaults = CopyOptions::default();
    let areas = match &args.areas {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the area list {}", path.display()))?;
            let list: Vec<Area> = serde_json::from_str(&text).with_context(|| {
                format!("{} is not a JSON list of {{start, length}}", path.display())
            })?;
            Some(list)
        }
        None => None,
    };
    let progress = match &args.progress {
        Some(target) => Some(
            JsonLines::open(target)
                .with_context(|| format!("cannot open the progress output {target}"))?,
        ),
        None => None,
    };
    // Installed before connecting: a signal also ends a handshake with a silent server.
    let cancel = copy_engine::cancel_on_signals().context("cannot install signal handlers")?;
    let connect = cancel.connect_options(&ConnectOptions::with_timeout(Duration::from_secs(
        args.timeout,
    )));
    let options = CopyOptions {
        connections: args.connections.unwrap_or(defaults.connections),
        requests: args.requests.unwrap_or(defaults.requests),
        request_size: args.request_size.unwrap_or(defaults.request_size),
        destination_is_zero: args.destination_is_zero,
        areas,
        cancel: Some(cancel.clone()),
        ..defaults
    };

    let cancelled = |e: CopyError| -> anyhow::Error {
        if cancel.is_cancelled() {
            anyhow::anyhow!("interrupted by a signal while connecting")
        } else {
            e.into()
        }
    };
    let source = copy_engine::open_source_with(&args.source, &connect).map_err(cancelled)?;
    let size = copy_engine::Source::size(&source);
    let sink = copy_engine::open_destination_with(
        &args.destination,
        size,
        args.destination_is_zero,
        args.buffered,
        &connect,
    )
    .map_err(cancelled)?;
    let observe = |event: &Event| {
        if let Some(p) = &progress {
            p.observe(event);
        }
    };
    match copy_engine::copy(&source, sink.as_ref(), &options, &observe) {
        Ok(report) => {
            let secs = report.elapsed.as_secs_f64().max(1e-9);
            eprintln!(
                "vmkit: copied {} bytes in {:.2} s ({:.1} MiB/s): {} read, {} written, {} zeroed, {} already zero; {} connection(s)",
                report.bytes_total,
                secs,
                report.bytes_total as f64 / secs / (1 << 20) as f64,
                report.bytes_read,
                report.bytes_written,
                report.bytes_zeroed,
                report.bytes_skipped,
                report.connections,
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ CopyError::Cancelled { .. }) => {
            eprintln!("vmkit: {e}");
            Ok(ExitCode::from(130))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn parses_sizes_with_units() {
        assert_eq!(parse_size("262144"), Ok(262_144));
        assert_eq!(parse_size("256K"), Ok(262_144));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert!(parse_size("1").is_err());
        assert!(parse_size("8G").is_err());
        assert!(parse_size("x").is_err());
    }
}
