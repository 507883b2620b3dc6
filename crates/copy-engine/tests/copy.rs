//! The engine against real NBD servers: bit-exact results and the behaviour behind them,
//! observed through nbdkit's `log` filter.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use copy_engine::{
    Area, Cancel, CopyError, CopyOptions, CopyReport, Event, FileSink, copy, open_source,
    open_source_with,
};
use testbed::disk;
use testbed::nbdkit::{NbdServer, Nbdkit, QemuNbd};

const MIB: u64 = 1 << 20;

fn copy_to_file(
    uri: &str,
    target: &Path,
    options: &CopyOptions,
) -> (Result<CopyReport, CopyError>, Vec<Event>) {
    let events = Mutex::new(Vec::new());
    let source = open_source(uri).unwrap();
    let sink = FileSink::open(target, copy_engine::Source::size(&source)).unwrap();
    let result = copy(&source, &sink, options, &|e: &Event| {
        events.lock().unwrap().push(e.clone())
    });
    (result, events.into_inner().unwrap())
}

/// One request or reply line of nbdkit's log filter.
#[derive(Debug)]
struct LogLine {
    connection: u32,
    op: String,
    done: bool,
    id: u64,
    count: u64,
}

fn hex_field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
}

fn parse_log(path: &Path) -> Vec<LogLine> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let connection = words
                .iter()
                .find_map(|w| w.strip_prefix("connection="))?
                .parse()
                .ok()?;
            let pos = words.iter().position(|w| w.starts_with("connection="))?;
            let op = words.get(pos + 1)?;
            let id = words
                .iter()
                .find_map(|w| w.strip_prefix("id="))?
                .parse()
                .ok()?;
            Some(LogLine {
                connection,
                op: op.trim_start_matches("...").to_owned(),
                done: op.starts_with("..."),
                id,
                count: hex_field(line, "count=").unwrap_or(0),
            })
        })
        .collect()
}

/// Most `op` requests outstanding at once on any one connection.
fn max_in_flight(log: &[LogLine], op: &str) -> usize {
    let mut open: HashMap<u32, BTreeSet<u64>> = HashMap::new();
    let mut max = 0;
    for l in log.iter().filter(|l| l.op == op) {
        let set = open.entry(l.connection).or_default();
        if l.done {
            set.remove(&l.id);
        } else {
            set.insert(l.id);
            max = max.max(set.len());
        }
    }
    max
}

fn bytes_read(log: &[LogLine]) -> u64 {
    log.iter()
        .filter(|l| !l.done && l.op == "Read")
        .map(|l| l.count)
        .sum()
}

fn reference_copy(uri: &str, target: &Path) -> String {
    // nbdcopy 1.14 ignores the server's maximum block size: keep its requests small.
    let status = Command::new("nbdcopy")
        .arg("--request-size=65536")
        .arg(uri)
        .arg(target)
        .status()
        .expect("nbdcopy (libnbd-bin) is needed as the reference: scripts/testbed up nbd");
    assert!(status.success());
    disk::sha256_file(target).unwrap()
}

#[test]
fn dense_disk_of_odd_size_is_copied_bit_exact_over_several_connections() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    let size = 37 * MIB + 12_345;
    disk::random_file(&src, size, 1).unwrap();
    let log = dir.path().join("log");
    // The delay keeps each read busy for a moment, so requests sent together are seen together.
    let server = Nbdkit::new("file")
        .filter("log")
        .filter("delay")
        .arg(format!("logfile={}", log.display()))
        .arg("rdelay=2ms")
        .arg(format!("file={}", src.display()))
        .start()
        .unwrap();
    let dst = dir.path().join("dst.raw");
    let options = CopyOptions {
        connections: 4,
        requests: 8,
        range_size: MIB,
        ..CopyOptions::default()
    };
    let (result, events) = copy_to_file(&server.uri(), &dst, &options);
    let report = result.unwrap();
    drop(server);
    assert_eq!(
        disk::sha256_file(&dst).unwrap(),
        disk::sha256_file(&src).unwrap()
    );
    assert_eq!(std::fs::metadata(&dst).unwrap().len(), size);
    assert_eq!(report.bytes_total, size);
    assert_eq!(report.bytes_written, size);
    assert_eq!(report.connections, 4);
    let last = events.iter().rev().find_map(|e| match e {
        Event::Progress(p) => Some(*p),
        _ => None,
    });
    assert_eq!(last.unwrap().bytes_done, size);

    let connects = std::fs::read_to_string(&log)
        .unwrap()
        .matches(" Connect ")
        .count();
    assert_eq!(connects, 4, "four connections opened");
    let log = parse_log(&log);
    let reading: BTreeSet<u32> = log
        .iter()
        .filter(|l| l.op == "Read")
        .map(|l| l.connection)
        .collect();
    assert!(
        reading.len() >= 2,
        "reads spread over connections: {reading:?}"
    );
    assert!(
        max_in_flight(&log, "Read") > 1,
        "several requests in flight on a connection"
    );
    assert!(max_in_flight(&log, "Read") <= 8);
    assert!(
        log.iter()
            .filter(|l| l.op == "Read")
            .all(|l| l.count <= u64::from(CopyOptions::default().request_size))
    );
}

#[test]
fn sparse_disk_reads_only_allocated_data_and_keeps_holes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    let size = 96 * MIB + 512; // not a multiple of 4 KiB: the last block is partial
    let runs = [
        (0, 64 * 1024),
        (10 * MIB + 4096, 3 * MIB),
        (50 * MIB, 300 * 1024),
        (size - 512 - 8192, 8192 + 512),
    ];
    disk::sparse_file(&src, size, &runs, 2).unwrap();
    let allocated = disk::allocated_bytes(&src).unwrap();
    let log = dir.path().join("log");
    let range_size = 16 * MIB;
    let server = Nbdkit::new("file")
        .filter("log")
        .arg(format!("logfile={}", log.display()))
        .arg(format!("file={}", src.display()))
        .start()
        .unwrap();
    let dst = dir.path().join("dst.raw");
    let options = CopyOptions {
        range_size,
        ..CopyOptions::default()
    };
    let (result, _) = copy_to_file(&server.uri(), &dst, &options);
    let report = result.unwrap();
    drop(server);
    assert_eq!(
        disk::sha256_file(&dst).unwrap(),
        disk::sha256_file(&src).unwrap()
    );

    let log = parse_log(&log);
    let read = bytes_read(&log);
    assert!(
        read <= allocated + 256 * 1024,
        "read {read} bytes for {allocated} allocated"
    );
    assert_eq!(report.bytes_read, read);
    let extents: Vec<&LogLine> = log
        .iter()
        .filter(|l| !l.done && l.op == "Extents")
        .collect();
    assert!(
        extents.len() >= (size / range_size) as usize,
        "{} block-status calls",
        extents.len()
    );
    assert!(
        extents.iter().all(|l| l.count <= range_size),
        "block status asked per range, never for the whole disk"
    );
    // Holes stay holes: the target's data ranges are exactly the source's (st_blocks would
    // also count file-system metadata blocks).
    assert_eq!(
        disk::data_ranges(&dst).unwrap(),
        disk::data_ranges(&src).unwrap()
    );
}

#[test]
fn all_zero_disk_reads_nothing_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Nbdkit::new("memory").arg("size=200M").start().unwrap();
    let dst = dir.path().join("dst.raw");
    let (result, _) = copy_to_file(&server.uri(), &dst, &CopyOptions::default());
    let report = result.unwrap();
    assert_eq!(report.bytes_read, 0);
    assert_eq!(report.bytes_skipped, 200 * MIB);
    assert_eq!(disk::allocated_bytes(&dst).unwrap(), 0);
    assert_eq!(std::fs::metadata(&dst).unwrap().len(), 200 * MIB);
}

#[test]
fn sparse_random_pattern_and_data_plugins_match_nbdcopy() {
    let dir = tempfile::tempdir().unwrap();
    let servers: Vec<(&str, NbdServer)> = vec![
        (
            "sparse-random",
            Nbdkit::new("sparse-random")
                .arg("size=100000001")
                .arg("seed=42")
                .arg("percent=10")
                .start()
                .unwrap(),
        ),
        (
            "pattern",
            Nbdkit::new("pattern").arg("size=9999999").start().unwrap(),
        ),
        (
            "data",
            Nbdkit::new("data")
                .arg("data=1 2 3 @0x3fff0 0x41*36 @0x4000000 0xff*4093")
                .start()
                .unwrap(),
        ),
    ];
    for (name, server) in servers {
        let expected = reference_copy(&server.uri(), &dir.path().join(format!("{name}.ref")));
        let dst = dir.path().join(format!("{name}.raw"));
        let options = CopyOptions {
            range_size: 8 * MIB,
            request_size: 192 * 1024,
            ..CopyOptions::default()
        };
        let (result, _) = copy_to_file(&server.uri(), &dst, &options);
        result.unwrap();
        assert_eq!(disk::sha256_file(&dst).unwrap(), expected, "{name}");
    }
}

#[test]
fn changed_areas_are_copied_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let size = 64 * MIB;
    let disks = DeltaDisks::new(dir.path(), size, 3, 4);
    let log = dir.path().join("log");
    let server = Nbdkit::new("file")
        .filter("log")
        .arg(format!("logfile={}", log.display()))
        .arg(format!("file={}", disks.src.display()))
        .start()
        .unwrap();
    let areas = vec![
        Area::new(5 * MIB, 65_536),
        Area::new(0, 4096),
        Area::new(20 * MIB, 3 * MIB + 100),
        Area::new(size - 1000, 1000),
        Area::new(20 * MIB + 100, 10),
    ];
    let options = CopyOptions {
        areas: Some(areas.clone()),
        ..CopyOptions::default()
    };
    let (result, _) = copy_to_file(&server.uri(), &disks.dst, &options);
    let report = result.unwrap();
    drop(server);
    let total: u64 = 65_536 + 4096 + 3 * MIB + 100 + 1000;
    assert_eq!(report.bytes_total, total);
    assert_eq!(bytes_read(&parse_log(&log)), total);

    disks.assert_holds_areas(&areas);
}

/// A random source disk and a destination holding an older random disk of the same size, as a
/// warm migration's volume holds the previous sync.
struct DeltaDisks {
    src: PathBuf,
    dst: PathBuf,
    old_seed: u64,
}

impl DeltaDisks {
    fn new(dir: &Path, size: u64, src_seed: u64, old_seed: u64) -> Self {
        let (src, dst) = (dir.join("src.raw"), dir.join("dst.raw"));
        disk::random_file(&src, size, src_seed).unwrap();
        disk::random_file(&dst, size, old_seed).unwrap();
        DeltaDisks { src, dst, old_seed }
    }

    /// Asserts the destination holds the older disk with `areas` taken from the source.
    fn assert_holds_areas(&self, areas: &[Area]) {
        let old = self.dst.with_extension("old");
        let size = std::fs::metadata(&self.src).unwrap().len();
        disk::random_file(&old, size, self.old_seed).unwrap();
        let mut expected = std::fs::read(&old).unwrap();
        let source = std::fs::read(&self.src).unwrap();
        for a in areas {
            let r = a.start as usize..a.end() as usize;
            expected[r.clone()].copy_from_slice(&source[r]);
        }
        assert_eq!(
            disk::sha256_file(&self.dst).unwrap(),
            disk::sha256_bytes(&expected)
        );
    }
}

#[test]
fn block_status_of_a_delta_is_asked_ahead_not_one_area_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let disks = DeltaDisks::new(dir.path(), 32 * MIB, 5, 6);
    let log = dir.path().join("log");
    // The delay keeps each block status busy, as a round trip to an ESXi host does, so
    // requests sent together are seen together.
    let server = Nbdkit::new("file")
        .filter("log")
        .filter("delay")
        .arg(format!("logfile={}", log.display()))
        .arg("delay-extents=20ms")
        .arg(format!("file={}", disks.src.display()))
        .start()
        .unwrap();
    // A CBT delta's shape: many small areas apart from each other.
    let areas: Vec<Area> = (0..48).map(|i| Area::new(i * 640 * 1024, 65_536)).collect();
    let options = CopyOptions {
        connections: 1,
        requests: 4,
        areas: Some(areas.clone()),
        ..CopyOptions::default()
    };
    let (result, _) = copy_to_file(&server.uri(), &disks.dst, &options);
    result.unwrap();
    drop(server);
    let extents = max_in_flight(&parse_log(&log), "Extents");
    assert!(extents > 1, "block status asked one area at a time");
    assert!(
        extents <= 4,
        "{extents} block status requests in flight, more than requests"
    );
    disks.assert_holds_areas(&areas);
}

/// Copies a random disk of `size` bytes through nbdkit's log filter, with every read held for
/// `read_delay` as a round trip would hold it, to a file seen through `destination`; 1 MiB
/// requests and at most 8 MiB in flight on one connection. With `first_reads_fail`, reads fail
/// at once with EIO until the first retry. Checks the copy and returns the most reads the
/// server saw in flight at once.
fn reads_in_flight_copying(
    size: u64,
    read_delay: &str,
    first_reads_fail: bool,
    destination: impl FnOnce(FileSink) -> Box<dyn copy_engine::Sink>,
) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    disk::random_file(&src, size, 21).unwrap();
    let log = dir.path().join("log");
    let trigger = dir.path().join("errors-on");
    let mut nbdkit = Nbdkit::new("file");
    if first_reads_fail {
        std::fs::write(&trigger, b"").unwrap();
        nbdkit = nbdkit
            .filter("error")
            .arg("error-pread=EIO")
            .arg("error-pread-rate=100%")
            .arg(format!("error-file={}", trigger.display()));
    }
    let server = nbdkit
        .filter("log")
        .filter("delay")
        .arg(format!("logfile={}", log.display()))
        .arg(format!("rdelay={read_delay}"))
        .arg(format!("file={}", src.display()))
        .start()
        .unwrap();
    let options = CopyOptions {
        connections: 1,
        request_size: MIB as u32,
        queue_bytes: 8 * MIB,
        retry_delay: Duration::from_millis(20),
        ..CopyOptions::default()
    };
    let dst = dir.path().join("dst.raw");
    let sink = destination(FileSink::open(&dst, size).unwrap());
    let source = open_source(&server.uri()).unwrap();
    copy(&source, sink.as_ref(), &options, &|e: &Event| {
        if let Event::Retry { .. } = e {
            let _ = std::fs::remove_file(&trigger);
        }
    })
    .unwrap();
    server.stop().unwrap();
    assert_eq!(
        disk::sha256_file(&dst).unwrap(),
        disk::sha256_file(&src).unwrap()
    );
    let log = parse_log(&log);
    assert!(!log.is_empty(), "nbdkit's log holds the reads");
    max_in_flight(&log, "Read")
}

#[test]
fn a_source_with_a_round_trip_per_read_gets_the_whole_queue_in_flight() {
    // Each read waits 50 ms and the server serves them side by side: more reads in flight are
    // not slower, so the read window grows from two requests to the whole queue's eight.
    let most = reads_in_flight_copying(96 * MIB, "50ms", false, |file| Box::new(file));
    assert_eq!(most, 8, "reads in flight at most");
}

#[test]
fn reads_that_fail_at_once_do_not_hold_the_read_window_down() {
    // The first reads fail with EIO in no time; taken for the source's latency, they made
    // every later 50 ms read look queued, and the window stayed at two requests.
    let most = reads_in_flight_copying(96 * MIB, "50ms", true, |file| Box::new(file));
    assert_eq!(most, 8, "reads in flight at most");
}

/// A file destination whose every write takes `delay` longer: a disk slower than the source.
struct SlowDisk {
    file: FileSink,
    delay: Duration,
}

struct SlowWriter {
    inner: Box<dyn copy_engine::SinkWriter>,
    delay: Duration,
}

impl copy_engine::Sink for SlowDisk {
    fn size(&self) -> u64 {
        self.file.size()
    }
    fn is_zeroed(&self) -> bool {
        self.file.is_zeroed()
    }
    fn max_request(&self) -> Option<u32> {
        self.file.max_request()
    }
    fn open_writer(&self) -> Result<Box<dyn copy_engine::SinkWriter>, copy_engine::Failure> {
        Ok(Box::new(SlowWriter {
            inner: self.file.open_writer()?,
            delay: self.delay,
        }))
    }
    fn flush(&self) -> Result<(), copy_engine::Failure> {
        self.file.flush()
    }
}

impl copy_engine::SinkWriter for SlowWriter {
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), copy_engine::Failure> {
        std::thread::sleep(self.delay);
        self.inner.write(offset, data)
    }
    fn zero(&mut self, offset: u64, length: u64) -> Result<(), copy_engine::Failure> {
        self.inner.zero(offset, length)
    }
    fn finish(&mut self) -> Result<(), copy_engine::Failure> {
        self.inner.finish()
    }
}

#[test]
fn a_destination_slower_than_the_source_keeps_few_reads_in_flight() {
    // Reads take 5 ms, writes 100: after the first read, the next ones are always waiting when
    // the worker comes back from a write, so the window (and the buffers) stay at two
    // requests, and one more for the wait for the very first read. Without the read window,
    // the whole queue's eight were in flight.
    let most = reads_in_flight_copying(16 * MIB, "5ms", false, |file| {
        Box::new(SlowDisk {
            file,
            delay: Duration::from_millis(100),
        })
    });
    assert!(
        most <= 3,
        "{most} reads in flight for a destination that keeps none waiting"
    );
}

#[test]
fn qemu_nbd_source_and_nbd_destination() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    let size = 48 * MIB + 4096 * 3;
    disk::sparse_file(
        &src,
        size,
        &[(0, MIB), (30 * MIB, 77_777), (size - 4096, 4096)],
        5,
    )
    .unwrap();
    let source_server = QemuNbd::new(&src).read_only().start().unwrap();
    let dst = dir.path().join("dst.raw");
    // A destination with old data everywhere: zero runs must really be zeroed.
    disk::random_file(&dst, size, 6).unwrap();
    let dest_server = QemuNbd::new(&dst).start().unwrap();

    let source = open_source(&source_server.uri()).unwrap();
    let sink = copy_engine::open_destination(&dest_server.uri(), size, false).unwrap();
    let report = copy(
        &source,
        sink.as_ref(),
        &CopyOptions::default(),
        &|_: &Event| {},
    )
    .unwrap();
    drop(sink);
    drop(dest_server);
    assert!(report.bytes_zeroed > 0);
    assert_eq!(
        disk::sha256_file(&dst).unwrap(),
        disk::sha256_file(&src).unwrap()
    );
}

#[test]
fn refuses_a_smaller_destination() {
    let source_server = Nbdkit::new("pattern").arg("size=10M").start().unwrap();
    let dest_server = Nbdkit::new("memory").arg("size=9M").start().unwrap();
    let source = open_source(&source_server.uri()).unwrap();
    let err = copy_engine::open_destination(&dest_server.uri(), 10 * MIB, true)
        .err()
        .unwrap();
    assert!(
        matches!(err, CopyError::DestinationTooSmall { .. }),
        "{err}"
    );
    let _ = source;
}

#[test]
fn respects_the_servers_maximum_request_size() {
    let dir = tempfile::tempdir().unwrap();
    let server = Nbdkit::new("pattern")
        .arg("size=20M")
        .filter("blocksize-policy")
        .arg("blocksize-maximum=65536")
        .arg("blocksize-error-policy=error")
        .start()
        .unwrap();
    let dst = dir.path().join("dst.raw");
    let options = CopyOptions {
        request_size: 4 << 20,
        ..CopyOptions::default()
    };
    let (result, _) = copy_to_file(&server.uri(), &dst, &options);
    result.unwrap();
    let expected = reference_copy(&server.uri(), &dir.path().join("ref"));
    assert_eq!(disk::sha256_file(&dst).unwrap(), expected);
}

#[test]
fn transient_eio_is_retried_until_it_clears() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    disk::random_file(&src, 16 * MIB + 100, 7).unwrap();
    let trigger = dir.path().join("errors-on");
    std::fs::write(&trigger, b"").unwrap();
    let server = Nbdkit::new("file")
        .filter("error")
        .arg(format!("file={}", src.display()))
        .arg("error-pread=EIO")
        .arg("error-pread-rate=100%")
        .arg(format!("error-file={}", trigger.display()))
        .start()
        .unwrap();
    let dst = dir.path().join("dst.raw");
    let source = open_source(&server.uri()).unwrap();
    let sink = FileSink::open(&dst, 16 * MIB + 100).unwrap();
    let retries = Mutex::new(Vec::new());
    let options = CopyOptions {
        retry_delay: Duration::from_millis(20),
        ..CopyOptions::default()
    };
    let report = copy(&source, &sink, &options, &|e: &Event| {
        if let Event::Retry { cause, .. } = e {
            retries.lock().unwrap().push(cause.clone());
            let _ = std::fs::remove_file(&trigger);
        }
    })
    .unwrap();
    assert_eq!(report.bytes_total, 16 * MIB + 100);
    let retries = retries.into_inner().unwrap();
    assert!(!retries.is_empty());
    assert!(retries[0].contains("EIO"), "{}", retries[0]);
    assert_eq!(
        disk::sha256_file(&dst).unwrap(),
        disk::sha256_file(&src).unwrap()
    );
}

#[test]
fn persistent_eio_fails_naming_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let server = Nbdkit::new("pattern")
        .arg("size=8M")
        .filter("error")
        .arg("error-pread=EIO")
        .arg("error-pread-rate=100%")
        .start()
        .unwrap();
    let dst = dir.path().join("dst.raw");
    let options = CopyOptions {
        retries: 2,
        retry_delay: Duration::from_millis(5),
        ..CopyOptions::default()
    };
    let (result, events) = copy_to_file(&server.uri(), &dst, &options);
    let err = result.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CopyError::Read { attempts: 3, .. }), "{text}");
    assert!(text.contains("at offset") && text.contains("EIO"), "{text}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Retry { attempt: 2, .. }))
    );
}

fn killed_mid_copy(
    restart: bool,
) -> (
    Result<CopyReport, CopyError>,
    PathBuf,
    PathBuf,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    disk::random_file(&src, 24 * MIB, 8).unwrap();
    let socket = dir.path().join("nbd.sock");
    let builder = Nbdkit::new("file")
        .filter("delay")
        .arg("rdelay=5ms")
        .arg(format!("file={}", src.display()))
        .socket(&socket);
    let server = Arc::new(Mutex::new(Some(builder.start().unwrap())));
    let dst = dir.path().join("dst.raw");
    let source = open_source(&server.lock().unwrap().as_ref().unwrap().uri()).unwrap();
    let sink = FileSink::open(&dst, 24 * MIB).unwrap();
    let killed = AtomicBool::new(false);
    // Two reads at a time of twelve, 5 ms each: the copy outlasts several progress ticks, so
    // the kill lands mid-copy (with all twelve in flight it could finish within one tick).
    let options = CopyOptions {
        connections: 1,
        requests: 2,
        retry_delay: Duration::from_millis(20),
        progress_interval: Duration::from_millis(10),
        ..CopyOptions::default()
    };
    let result = copy(&source, &sink, &options, &|e: &Event| match e {
        Event::Progress(p) if p.bytes_done > 0 && !killed.swap(true, Ordering::SeqCst) => {
            if let Some(s) = server.lock().unwrap().as_mut() {
                s.kill();
            }
        }
        Event::Reconnect { .. } if restart => {
            *server.lock().unwrap() = Some(builder.start().unwrap());
        }
        _ => {}
    });
    (result, src, dst, dir)
}

#[test]
fn killed_server_is_survived_by_one_reconnect() {
    let (result, src, dst, _dir) = killed_mid_copy(true);
    result.unwrap();
    assert_eq!(
        disk::sha256_file(&dst).unwrap(),
        disk::sha256_file(&src).unwrap()
    );
}

#[test]
fn killed_server_that_stays_down_fails_clearly() {
    let (result, _, _, _dir) = killed_mid_copy(false);
    let err = result.unwrap_err();
    assert!(matches!(err, CopyError::Reconnect { .. }), "{err}");
    assert!(err.to_string().contains("at offset"), "{err}");
}

#[test]
fn cancel_stops_drains_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Nbdkit::new("pattern")
        .arg("size=64M")
        .filter("delay")
        .arg("rdelay=10ms")
        .start()
        .unwrap();
    let dst = dir.path().join("dst.raw");
    let cancel = Cancel::new();
    let options = CopyOptions {
        progress_interval: Duration::from_millis(10),
        cancel: Some(cancel.clone()),
        ..CopyOptions::default()
    };
    let source = open_source(&server.uri()).unwrap();
    let sink = FileSink::open(&dst, 64 * MIB).unwrap();
    let result = copy(&source, &sink, &options, &|e: &Event| {
        if let Event::Progress(p) = e
            && p.bytes_done > 0
        {
            cancel.cancel();
        }
    });
    let err = result.unwrap_err();
    let CopyError::Cancelled {
        bytes_done,
        bytes_total,
        flush_failed: None,
    } = err
    else {
        panic!("{err}")
    };
    assert!(bytes_done > 0 && bytes_done < bytes_total);
    // What was reported done is on the disk: the start of the pattern is there.
    let head = std::fs::read(&dst).unwrap();
    assert_eq!(u64::from_be_bytes(head[8..16].try_into().unwrap()), 8);
}

/// nbdkit whose every read sleeps an hour: a source stalled forever.
/// One worker thread per connection: when the client gives up on a stalled request, nbdkit
/// 1.32's delay filter and a second worker both write to the closing socket, and nbdkit aborts
/// on `raw_send_socket: Assertion 'sock >= 0'` (seen in CI) — the reconnect then finds no server.
fn stalled_source() -> NbdServer {
    Nbdkit::new("pattern")
        .option("--threads=1")
        .arg("size=16M")
        .filter("delay")
        .arg("rdelay=3600")
        .start()
        .unwrap()
}

#[test]
fn a_stalled_source_fails_within_the_request_timeout_after_one_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let server = stalled_source();
    let timeout = Duration::from_secs(1);
    let source =
        open_source_with(&server.uri(), &nbd::ConnectOptions::with_timeout(timeout)).unwrap();
    let sink = FileSink::open(&dir.path().join("dst.raw"), 16 * MIB).unwrap();
    let started = Instant::now();
    let events = Mutex::new(Vec::new());
    let err = copy(&source, &sink, &CopyOptions::default(), &|e: &Event| {
        events.lock().unwrap().push(e.clone())
    })
    .unwrap_err();
    let took = started.elapsed();
    // First try, one reconnect, second try: about two timeouts, never an hour.
    assert!(took >= timeout && took < 10 * timeout, "{took:?}");
    assert!(matches!(err, CopyError::Read { .. }), "{err}");
    assert!(
        err.to_string().contains("no complete reply to read"),
        "{err}"
    );
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::Reconnect { .. })),
        "the existing retry policy applies"
    );
}

#[test]
fn cancel_ends_a_copy_blocked_on_a_stalled_source_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = stalled_source();
    let cancel = Cancel::new();
    // Default timeouts (minutes): only the teardown can end this quickly.
    let source = open_source_with(
        &server.uri(),
        &cancel.connect_options(&nbd::ConnectOptions::default()),
    )
    .unwrap();
    let sink = FileSink::open(&dir.path().join("dst.raw"), 16 * MIB).unwrap();
    let options = CopyOptions {
        cancel: Some(cancel.clone()),
        ..CopyOptions::default()
    };
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            cancel.cancel();
            Instant::now()
        })
    };
    let err = copy(&source, &sink, &options, &|_: &Event| {}).unwrap_err();
    let cancelled_at = canceller.join().unwrap();
    let took = cancelled_at.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?} after the cancel");
    assert!(
        matches!(err, CopyError::Cancelled { bytes_done: 0, .. }),
        "{err}"
    );
}

/// Pages of `path` in the page cache, from mincore(2) over a mapping of the file.
fn cached_bytes(path: &Path) -> u64 {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    let page = 4096;
    // SAFETY: a read-only private mapping of a file we hold open, unmapped below; mincore
    // fills one byte per page of it into a vector of that many bytes.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(map, libc::MAP_FAILED);
        let mut resident = vec![0u8; len.div_ceil(page)];
        assert_eq!(libc::mincore(map, len, resident.as_mut_ptr()), 0);
        libc::munmap(map, len);
        resident.iter().filter(|b| **b & 1 == 1).count() as u64 * page as u64
    }
}

/// Copies `size` bytes of nbdkit's pattern to `dir/dst.raw`, buffered or not; returns the
/// server (still serving), the copy's path and whether it was written with direct I/O.
fn copy_pattern(dir: &Path, size: u64, buffered: bool) -> (NbdServer, PathBuf, bool) {
    let server = Nbdkit::new("pattern")
        .arg(format!("size={size}"))
        .start()
        .unwrap();
    let dst = dir.join("dst.raw");
    let source = open_source(&server.uri()).unwrap();
    let sink = FileSink::open(&dst, size).unwrap();
    let sink = if buffered { sink.buffered() } else { sink };
    copy(&source, &sink, &CopyOptions::default(), &|_: &Event| {}).unwrap();
    let direct = sink.is_direct();
    (server, dst, direct)
}

#[test]
fn written_data_leaves_the_page_cache_as_the_copy_goes() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, dst, direct) = copy_pattern(dir.path(), 512 * MIB, true);
    assert!(!direct);
    // Each of the 4 writers keeps at most its last few write-behind windows cached.
    let cached = cached_bytes(&dst);
    assert!(
        cached <= 192 * MIB,
        "{} MiB of the 512 MiB written are still in the page cache",
        cached / MIB
    );
}

#[test]
fn a_file_destination_is_written_around_the_page_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (server, dst, direct) = copy_pattern(dir.path(), 64 * MIB, false);
    assert!(direct, "O_DIRECT refused on {}", dir.path().display());
    // Written through the page cache, the last write-behind windows of every writer would
    // still be cached (tens of MiB).
    let cached = cached_bytes(&dst);
    assert!(
        cached <= MIB,
        "{cached} bytes of the copy are in the page cache"
    );
    assert_eq!(
        disk::sha256_file(&dst).unwrap(),
        reference_copy(&server.uri(), &dir.path().join("ref"))
    );
}

/// A loop device over a file, detached when dropped.
struct LoopDevice(String);

impl LoopDevice {
    fn attach(backing: &Path, sector_size: u32) -> LoopDevice {
        let out = Command::new("losetup")
            .args(["--direct-io=on", "--sector-size", &sector_size.to_string()])
            .args(["--find", "--show"])
            .arg(backing)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        LoopDevice(String::from_utf8(out.stdout).unwrap().trim().to_owned())
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup")
            .args(["--detach", &self.0])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .status();
    }
}

#[test]
fn a_block_device_with_4k_sectors_takes_direct_writes_and_a_buffered_tail() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.raw");
    // Not a whole number of 4 KiB sectors: the last 1,536 bytes (three 512-byte sectors)
    // cannot go direct to this device and must not be tried.
    let size = 37 * MIB + 1536;
    disk::random_file(&src, size, 11).unwrap();
    let backing = dir.path().join("volume.img");
    let volume = std::fs::File::create(&backing).unwrap();
    volume.set_len(40 * MIB).unwrap();
    drop(volume);
    let device = LoopDevice::attach(&backing, 4096);
    let server = Nbdkit::new("file")
        .arg(format!("file={}", src.display()))
        .start()
        .unwrap();
    let source = open_source(&server.uri()).unwrap();
    let sink = FileSink::open(Path::new(&device.0), size).unwrap();
    assert!(sink.is_direct());
    let report = copy(&source, &sink, &CopyOptions::default(), &|_: &Event| {}).unwrap();
    assert_eq!(report.bytes_written, size);
    assert!(sink.is_direct(), "a direct write was refused");
    drop(sink);
    let mut written = vec![0u8; size as usize];
    std::fs::File::open(&device.0)
        .unwrap()
        .read_exact(&mut written)
        .unwrap();
    assert!(
        written == std::fs::read(&src).unwrap(),
        "the device differs from the source"
    );
}

#[test]
fn writes_to_an_nbd_destination_are_pipelined_and_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let size = 16 * MIB;
    let source_server = Nbdkit::new("pattern")
        .arg(format!("size={size}"))
        .start()
        .unwrap();
    let log = dir.path().join("log");
    // The delay keeps each write busy, so writes sent together are seen together.
    let dest_server = Nbdkit::new("memory")
        .filter("log")
        .filter("delay")
        .arg(format!("logfile={}", log.display()))
        .arg("wdelay=5ms")
        .arg(format!("size={size}"))
        .start()
        .unwrap();
    let source = open_source(&source_server.uri()).unwrap();
    let sink = copy_engine::open_destination(&dest_server.uri(), size, true).unwrap();
    let options = CopyOptions {
        connections: 1,
        request_size: 256 * 1024,
        ..CopyOptions::default()
    };
    copy(&source, sink.as_ref(), &options, &|_: &Event| {}).unwrap();
    drop(sink);
    let writes = max_in_flight(&parse_log(&log), "Write");
    assert!(writes > 1, "one write at a time");
    assert!(writes <= 16, "{writes} writes in flight on one connection");
    assert_eq!(
        reference_copy(&dest_server.uri(), &dir.path().join("written")),
        reference_copy(&source_server.uri(), &dir.path().join("ref"))
    );
}

#[test]
fn a_failed_write_to_an_nbd_destination_fails_the_copy_naming_its_offset() {
    let source_server = Nbdkit::new("pattern").arg("size=8M").start().unwrap();
    let dest_server = Nbdkit::new("memory")
        .arg("size=8M")
        .filter("error")
        .arg("error-pwrite=EIO")
        .arg("error-pwrite-rate=100%")
        .start()
        .unwrap();
    let source = open_source(&source_server.uri()).unwrap();
    let sink = copy_engine::open_destination(&dest_server.uri(), 8 * MIB, true).unwrap();
    let err = copy(
        &source,
        sink.as_ref(),
        &CopyOptions::default(),
        &|_: &Event| {},
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, CopyError::Write { .. } | CopyError::WriteBehind(_)),
        "{text}"
    );
    assert!(text.contains("at offset") && text.contains("EIO"), "{text}");
}
