//! The copy loop: the disk (or the changed-area list) is cut into large ranges that workers
//! take in order; each worker owns one source reader (one NBD connection) and one sink
//! writer, asks block status range by range just ahead of where it reads, keeps up to
//! `requests` reads in flight within a read window that starts at two requests' bytes and
//! grows towards `queue_bytes / connections` while more reads in flight are served at once,
//! and writes each buffer as it arrives — data runs as writes, zero blocks as holes (or not at
//! all when the destination is known to be zero).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use crate::area::{self, Area};
use crate::buffer::{self, Buffer, Pool};
use crate::error::{CopyError, Failure, FailureKind};
use crate::progress::{Event, Progress};
use crate::read_window::ReadWindow;
use crate::signals::Cancel;
use crate::sink::{Sink, SinkWriter};
use crate::source::{Completion, Extent, Source, SourceReader};

/// Tuning and behaviour of one copy. `Default` gives the measured defaults.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Source connections (workers); capped to 1 when the server does not allow multi-conn.
    /// The default is [`default_connections`].
    pub connections: usize,
    /// Requests in flight per connection.
    pub requests: usize,
    /// Bytes per read request; capped to the server's maximum. Data reaches a file or block
    /// device in writes of this size (direct I/O), so it is also the write size: 2 MiB
    /// measured best on a virtio disk (256 KiB direct writes: 1.5x the wall time, 1 MiB and
    /// 4 MiB within noise of 2 MiB; scripts/bench-copy).
    pub request_size: u32,
    /// Bytes of reads in flight across all connections, at most: each worker's read window
    /// grows towards its share only while the source keeps it waiting and serves more reads
    /// at once without making them slower.
    pub queue_bytes: u64,
    /// Size of the ranges workers take; block status is asked per range.
    pub range_size: u64,
    /// Granularity of zero detection in data read.
    pub zero_block: usize,
    /// The destination reads as zeroes before the copy: zero runs are skipped, not written.
    pub destination_is_zero: bool,
    /// Copy only these areas (a changed-block delta) instead of the whole disk.
    pub areas: Option<Vec<Area>>,
    /// Tries after the first failure of a request, with doubling delay.
    pub retries: u32,
    pub retry_delay: Duration,
    /// New connections a worker may open after losing one.
    pub reconnects: u32,
    pub progress_interval: Duration,
    /// Cancelled (e.g. by SIGTERM): stop issuing, let what is in flight end (at once if the
    /// connections were opened with its teardown), flush and fail with `Cancelled`.
    pub cancel: Option<Cancel>,
}

/// The most connections a copy opens unless told otherwise.
const MAX_DEFAULT_CONNECTIONS: usize = 4;

/// One connection per CPU this process may run on, at most four: each connection has a
/// worker and a reader thread of its own, and where CPUs are fewer than workers they only take
/// turns. nbdcopy, which virt-v2v and Forklift run against VDDK, limits its connections to its
/// threads and its threads to the cores in the same way. Measured on 2 vCPUs (scripts/bench-copy
/// sources, paired alternating runs, 6-10 pairs each): two connections against four took 0.96x
/// the wall time of a dense 4 GiB copy, 0.85x of a 207 MiB delta with 0.68x our CPU and 26
/// instead of 40 MiB peak RSS, and level on a 16 GiB sparse disk (1.06x and 0.97x in two
/// sets). With two busy loops beside the sparse copy, two connections took 0.74-0.79x
/// nbdcopy's time and four 0.90-1.12x. A CPU quota or affinity mask counts
/// (`available_parallelism`).
pub fn default_connections() -> usize {
    std::thread::available_parallelism()
        .map_or(MAX_DEFAULT_CONNECTIONS, |cpus| cpus.get())
        .min(MAX_DEFAULT_CONNECTIONS)
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            connections: default_connections(),
            requests: 16,
            request_size: 2 << 20,
            queue_bytes: 32 << 20,
            range_size: 128 << 20,
            zero_block: 4096,
            destination_is_zero: false,
            areas: None,
            retries: 4,
            retry_delay: Duration::from_millis(200),
            reconnects: 1,
            progress_interval: Duration::from_secs(1),
            cancel: None,
        }
    }
}

/// What a finished copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CopyReport {
    pub bytes_total: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Bytes explicitly zeroed on the destination.
    pub bytes_zeroed: u64,
    /// Zero bytes left alone because the destination already read as zero.
    pub bytes_skipped: u64,
    pub connections: usize,
    pub elapsed: Duration,
}

#[derive(Default)]
struct Counters {
    done: AtomicU64,
    read: AtomicU64,
    written: AtomicU64,
    zeroed: AtomicU64,
    skipped: AtomicU64,
}

struct Shared<'a> {
    ranges: Mutex<VecDeque<Area>>,
    counters: Counters,
    /// Another worker failed: stop issuing and drain.
    abort: AtomicBool,
    cancel: Option<&'a Cancel>,
    observer: &'a (dyn Fn(&Event) + Sync),
}

impl Shared<'_> {
    fn stopping(&self) -> bool {
        self.abort.load(Ordering::Relaxed) || self.cancelled()
    }

    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(Cancel::is_cancelled)
    }

    fn next_range(&self) -> Option<Area> {
        self.ranges
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }
}

struct Plan {
    workers: usize,
    requests: usize,
    request_size: u32,
    worker_queue_bytes: u64,
    zero_block: usize,
    destination_is_zero: bool,
    has_extents: bool,
    retries: u32,
    retry_delay: Duration,
    reconnects: u32,
}

/// Copies `source` to `sink`. `observe` receives progress every `progress_interval`, once at
/// the end, and every retry and reconnect.
pub fn copy(
    source: &dyn Source,
    sink: &dyn Sink,
    options: &CopyOptions,
    observe: &(dyn Fn(&Event) + Sync),
) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    let size = source.size();
    if sink.size() < size {
        return Err(CopyError::DestinationTooSmall {
            destination: sink.size(),
            source_size: size,
        });
    }
    let areas = match &options.areas {
        Some(list) => area::normalize(list, size)?,
        None if size > 0 => vec![Area::new(0, size)],
        None => Vec::new(),
    };
    let bytes_total = area::total_length(&areas);
    let ranges: VecDeque<Area> = area::split(&areas, options.range_size.max(1 << 20)).into();

    let workers = options
        .connections
        .clamp(1, 64)
        .min(source.max_readers())
        .min(ranges.len().max(1));
    let request_size = options
        .request_size
        .min(source.max_request())
        .min(sink.max_request().unwrap_or(u32::MAX))
        .max(512);
    let worker_queue_bytes = (options.queue_bytes / workers as u64).max(u64::from(request_size));
    let plan = Plan {
        workers,
        requests: options.requests.clamp(1, 1024),
        request_size,
        worker_queue_bytes,
        zero_block: options.zero_block.max(512),
        destination_is_zero: options.destination_is_zero || sink.is_zeroed(),
        has_extents: source.has_extents(),
        retries: options.retries,
        retry_delay: options.retry_delay,
        reconnects: options.reconnects,
    };
    tracing::info!(
        bytes_total,
        workers,
        requests = plan.requests,
        request_size,
        block_status = plan.has_extents,
        destination_is_zero = plan.destination_is_zero,
        "copy starting"
    );

    let shared = Shared {
        ranges: Mutex::new(ranges),
        counters: Counters::default(),
        abort: AtomicBool::new(false),
        cancel: options.cancel.as_ref(),
        observer: observe,
    };
    let progress = |shared: &Shared| {
        let done = shared.counters.done.load(Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64();
        Progress {
            bytes_done: done,
            bytes_total,
            bytes_per_second: if secs > 0.0 {
                (done as f64 / secs) as u64
            } else {
                0
            },
        }
    };

    let mut first_error: Option<CopyError> = None;
    std::thread::scope(|scope| {
        let (finished_tx, finished_rx) = mpsc::channel::<Result<(), CopyError>>();
        let mut spawned = 0;
        for id in 0..plan.workers {
            let finished = finished_tx.clone();
            let (shared, plan) = (&shared, &plan);
            let spawn = std::thread::Builder::new()
                .name(format!("copy-{id}"))
                .spawn_scoped(scope, move || {
                    let result = run_worker(id, source, sink, plan, shared);
                    if result.is_err() {
                        shared.abort.store(true, Ordering::Relaxed);
                    }
                    let _ = finished.send(result);
                });
            match spawn {
                Ok(_) => spawned += 1,
                Err(e) => {
                    shared.abort.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(CopyError::Thread(e));
                }
            }
        }
        drop(finished_tx);
        let mut remaining = spawned;
        while remaining > 0 {
            match finished_rx.recv_timeout(options.progress_interval) {
                Ok(result) => {
                    remaining -= 1;
                    if let Err(e) = result {
                        first_error.get_or_insert(e);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    observe(&Event::Progress(progress(&shared)));
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    });

    // Whatever happened, make what was written durable before reporting.
    let flushed = sink.flush();
    let counters = &shared.counters;
    let done = counters.done.load(Ordering::Relaxed);
    observe(&Event::Progress(progress(&shared)));
    // A cancel tears connections down: the failures that follow are its doing, not the cause.
    if shared.cancelled() {
        return Err(CopyError::Cancelled {
            bytes_done: done,
            bytes_total,
            flush_failed: flushed.err(),
        });
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    flushed.map_err(CopyError::Flush)?;
    if done != bytes_total {
        return Err(CopyError::Incomplete {
            bytes_done: done,
            bytes_total,
        });
    }
    let report = CopyReport {
        bytes_total,
        bytes_read: counters.read.load(Ordering::Relaxed),
        bytes_written: counters.written.load(Ordering::Relaxed),
        bytes_zeroed: counters.zeroed.load(Ordering::Relaxed),
        bytes_skipped: counters.skipped.load(Ordering::Relaxed),
        connections: plan.workers,
        elapsed: started.elapsed(),
    };
    tracing::info!(?report, "copy finished");
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Read { offset: u64, length: u64 },
    Extents { offset: u64, length: u64 },
}

impl Job {
    fn offset(&self) -> u64 {
        match *self {
            Job::Read { offset, .. } | Job::Extents { offset, .. } => offset,
        }
    }
    fn length(&self) -> u64 {
        match *self {
            Job::Read { length, .. } | Job::Extents { length, .. } => length,
        }
    }
}

struct Worker<'a> {
    id: usize,
    plan: &'a Plan,
    shared: &'a Shared<'a>,
    reader: Box<dyn SourceReader>,
    writer: Box<dyn SinkWriter>,
    completions: Receiver<Completion>,
    pool: Pool,
    in_flight: usize,
    in_flight_bytes: u64,
    /// Bytes of reads this worker keeps in flight at most.
    read_window: ReadWindow,
    /// The last `issue` held a read back because the read window was full.
    window_full: bool,
    /// When each read in flight was sent, by offset.
    read_sent: HashMap<u64, Instant>,
    extents_in_flight: usize,
    /// Bytes the block status requests in flight ask about.
    extents_in_flight_bytes: u64,
    /// Known extents not yet read or zeroed, in disk order.
    pending: VecDeque<Extent>,
    pending_bytes: u64,
    /// Parts of ranges whose block status answers covered less than asked.
    remainders: VecDeque<Area>,
    retry_queue: Vec<(Instant, Job)>,
    attempts: HashMap<u64, u32>,
    reconnects_left: u32,
    lost_at: Option<(u64, Failure)>,
    /// Scratch list of zero/data runs, reused for every buffer.
    runs: Vec<(usize, usize, bool)>,
}

fn run_worker(
    id: usize,
    source: &dyn Source,
    sink: &dyn Sink,
    plan: &Plan,
    shared: &Shared,
) -> Result<(), CopyError> {
    let (tx, completions): (Sender<Completion>, _) = mpsc::channel();
    let reader = source
        .open_reader(tx)
        .map_err(|cause| CopyError::OpenSource {
            what: format!("connection {id}"),
            cause,
        })?;
    let writer = sink
        .open_writer()
        .map_err(|cause| CopyError::OpenDestination {
            what: format!("writer {id}"),
            cause: cause.to_string(),
        })?;
    let mut worker = Worker {
        id,
        plan,
        shared,
        reader,
        writer,
        completions,
        pool: Pool::new(
            plan.request_size as usize,
            (plan.worker_queue_bytes + u64::from(plan.request_size)) as usize,
        ),
        in_flight: 0,
        in_flight_bytes: 0,
        read_window: ReadWindow::new(u64::from(plan.request_size), plan.worker_queue_bytes),
        window_full: false,
        read_sent: HashMap::new(),
        extents_in_flight: 0,
        extents_in_flight_bytes: 0,
        pending: VecDeque::new(),
        pending_bytes: 0,
        remainders: VecDeque::new(),
        retry_queue: Vec::new(),
        attempts: HashMap::new(),
        reconnects_left: plan.reconnects,
        lost_at: None,
        runs: Vec::new(),
    };
    let result = worker.run();
    if result.is_err() {
        worker.drain();
    }
    tracing::debug!(
        worker = id,
        read_window = worker.read_window.bytes(),
        "worker done (a read window below the queue's share: reads queued at the source, or the destination set the pace)"
    );
    // What the writer still has in flight ends before the sink is flushed, failed or not.
    let finished = worker.writer.finish().map_err(CopyError::WriteBehind);
    result.and(finished)
}

/// How long to wait for a completion before looking at the cancel flag again.
const POLL: Duration = Duration::from_millis(50);

impl Worker<'_> {
    fn run(&mut self) -> Result<(), CopyError> {
        loop {
            let stopping = self.shared.stopping();
            if !stopping {
                self.issue()?;
            }
            let idle = self.in_flight == 0 && self.extents_in_flight == 0;
            if idle && (stopping || self.out_of_work()) {
                return Ok(());
            }
            let wait = self
                .retry_queue
                .iter()
                .map(|(due, _)| due.saturating_duration_since(Instant::now()))
                .min()
                .unwrap_or(POLL)
                .min(POLL);
            if idle && !self.retry_queue.is_empty() {
                std::thread::sleep(wait);
                continue;
            }
            match self.wait_for_completion(wait) {
                Ok((completion, waited)) => {
                    self.complete(completion, waited && self.window_full)?
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The reader holds a sender for as long as we hold the reader.
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }

    /// The next completion, and whether the worker had to wait for it.
    fn wait_for_completion(
        &mut self,
        wait: Duration,
    ) -> Result<(Completion, bool), RecvTimeoutError> {
        match self.completions.try_recv() {
            Ok(completion) => Ok((completion, false)),
            Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => Ok((self.completions.recv_timeout(wait)?, true)),
        }
    }

    /// After a failure: let requests already sent come back, so no completion outlives us.
    fn drain(&mut self) {
        while self.in_flight > 0 || self.extents_in_flight > 0 {
            match self.completions.recv() {
                Ok(Completion::Read { buf, .. }) => {
                    self.in_flight -= 1;
                    self.pool.give(buf);
                }
                Ok(Completion::Extents { .. }) => self.extents_in_flight -= 1,
                Err(_) => break,
            }
        }
    }

    fn out_of_work(&self) -> bool {
        self.pending.is_empty()
            && self.retry_queue.is_empty()
            && self.remainders.is_empty()
            && self
                .shared
                .ranges
                .lock()
                .map(|r| r.is_empty())
                .unwrap_or(true)
    }

    fn issue(&mut self) -> Result<(), CopyError> {
        let now = Instant::now();
        if self.retry_queue.iter().any(|(due, _)| *due <= now) {
            if self.lost_at.is_some() {
                if self.in_flight > 0 || self.extents_in_flight > 0 {
                    // Wait for the dead connection to fail everything it still holds.
                    return Ok(());
                }
                self.reconnect()?;
            }
            let (due, later): (Vec<_>, Vec<_>) =
                self.retry_queue.drain(..).partition(|(due, _)| *due <= now);
            self.retry_queue = later;
            for (_, job) in due {
                self.submit(job);
            }
        }
        if self.lost_at.is_some() {
            return Ok(());
        }

        // Block status is asked for as many ranges ahead as the lookahead holds (and at most
        // `requests` at once), not one at a time: a CBT delta is hundreds of small areas, one
        // range each, and a server whose block status takes a round trip (VDDK asks the ESXi
        // host) would otherwise hold every area's reads back by one. A whole-disk range is
        // larger than the lookahead, so full copies still ask one range at a time.
        let lookahead = self.plan.worker_queue_bytes;
        while self.pending_bytes + self.extents_in_flight_bytes < lookahead
            && self.extents_in_flight < self.plan.requests
        {
            let Some(range) = self
                .remainders
                .pop_front()
                .or_else(|| self.shared.next_range())
            else {
                break;
            };
            if self.plan.has_extents {
                self.submit(Job::Extents {
                    offset: range.start,
                    length: range.length,
                });
            } else {
                self.push_extent(Extent {
                    offset: range.start,
                    length: range.length,
                    zero: false,
                });
            }
        }

        self.window_full = false;
        while self.in_flight < self.plan.requests {
            let Some(front) = self.pending.front().copied() else {
                break;
            };
            if front.zero {
                self.pending.pop_front();
                self.pending_bytes -= front.length;
                self.store_zero(front.offset, front.length)?;
                self.shared
                    .counters
                    .done
                    .fetch_add(front.length, Ordering::Relaxed);
                continue;
            }
            let length = front.length.min(u64::from(self.plan.request_size));
            if self.in_flight > 0 && self.in_flight_bytes + length > self.read_window.bytes() {
                self.window_full = self.read_window.can_grow();
                break;
            }
            if length == front.length {
                self.pending.pop_front();
            } else if let Some(f) = self.pending.front_mut() {
                f.offset += length;
                f.length -= length;
            }
            self.pending_bytes -= length;
            self.submit(Job::Read {
                offset: front.offset,
                length,
            });
        }
        Ok(())
    }

    fn submit(&mut self, job: Job) {
        match job {
            Job::Read { offset, length } => {
                self.in_flight += 1;
                self.in_flight_bytes += length;
                self.read_sent.insert(offset, Instant::now());
                let buf = self.pool.take(length as usize);
                self.reader.read(offset, buf);
            }
            Job::Extents { offset, length } => {
                self.extents_in_flight += 1;
                self.extents_in_flight_bytes += length;
                self.reader.extents(offset, length);
            }
        }
    }

    fn push_extent(&mut self, extent: Extent) {
        self.pending_bytes += extent.length;
        if let Some(last) = self.pending.back_mut()
            && last.zero == extent.zero
            && last.offset + last.length == extent.offset
        {
            last.length += extent.length;
            return;
        }
        self.pending.push_back(extent);
    }

    /// `starved`: the worker waited for this completion while the read window held reads back.
    fn complete(&mut self, completion: Completion, starved: bool) -> Result<(), CopyError> {
        match completion {
            Completion::Read {
                offset,
                buf,
                result,
            } => {
                let length = buf.len() as u64;
                // A failed read's time (an EIO at once, a timeout) says nothing of the source's
                // latency, and as the fastest it would hold the window at its floor for good.
                if let Some(sent) = self.read_sent.remove(&offset)
                    && result.is_ok()
                    && length == u64::from(self.plan.request_size)
                {
                    self.read_window.observe(sent.elapsed(), starved);
                }
                self.in_flight -= 1;
                self.in_flight_bytes -= length;
                let outcome = match result {
                    Ok(()) => {
                        self.attempts.remove(&offset);
                        self.shared
                            .counters
                            .read
                            .fetch_add(length, Ordering::Relaxed);
                        let stored = self.store_data(offset, &buf);
                        if stored.is_ok() {
                            self.shared
                                .counters
                                .done
                                .fetch_add(length, Ordering::Relaxed);
                        }
                        stored
                    }
                    Err(failure) => self.failed(Job::Read { offset, length }, failure),
                };
                self.pool.give(buf);
                outcome
            }
            Completion::Extents {
                offset,
                length,
                result,
            } => {
                self.extents_in_flight -= 1;
                self.extents_in_flight_bytes -= length;
                match result {
                    Ok(extents) => {
                        self.attempts.remove(&offset);
                        let mut covered = 0;
                        for extent in extents {
                            let extent = Extent {
                                length: extent.length.min(length - covered),
                                ..extent
                            };
                            if extent.length == 0 {
                                break;
                            }
                            covered += extent.length;
                            self.push_extent(extent);
                        }
                        if covered < length {
                            self.remainders
                                .push_back(Area::new(offset + covered, length - covered));
                        }
                        Ok(())
                    }
                    Err(failure) => self.failed(Job::Extents { offset, length }, failure),
                }
            }
        }
    }

    fn failed(&mut self, job: Job, failure: Failure) -> Result<(), CopyError> {
        if self.shared.stopping() {
            // Stopping anyway: no retry, and the first error (or the cancel) is what is reported.
            return Ok(());
        }
        let attempt = self.attempts.entry(job.offset()).or_insert(0);
        *attempt += 1;
        let attempt = *attempt;
        let give_up = failure.kind == FailureKind::Permanent
            || attempt > self.plan.retries
            || (failure.kind == FailureKind::Disconnected
                && self.reconnects_left == 0
                && self.lost_at.is_none());
        if give_up {
            return Err(match job {
                Job::Read { offset, length } => CopyError::Read {
                    offset,
                    length,
                    attempts: attempt,
                    cause: failure,
                },
                Job::Extents { offset, length } => CopyError::Extents {
                    offset,
                    length,
                    attempts: attempt,
                    cause: failure,
                },
            });
        }
        tracing::warn!(
            worker = self.id,
            offset = job.offset(),
            length = job.length(),
            attempt,
            cause = %failure,
            "request failed; retrying"
        );
        (self.shared.observer)(&Event::Retry {
            offset: job.offset(),
            length: job.length(),
            attempt,
            cause: failure.message.clone(),
        });
        if failure.kind == FailureKind::Disconnected && self.lost_at.is_none() {
            self.lost_at = Some((job.offset(), failure));
        }
        let delay = self.plan.retry_delay * 2u32.saturating_pow(attempt - 1);
        self.retry_queue.push((Instant::now() + delay, job));
        Ok(())
    }

    fn reconnect(&mut self) -> Result<(), CopyError> {
        let Some((offset, _)) = self.lost_at.take() else {
            return Ok(());
        };
        if self.reconnects_left == 0 {
            return Err(CopyError::Reconnect {
                offset,
                cause: Failure::permanent("no reconnect left"),
            });
        }
        self.reconnects_left -= 1;
        (self.shared.observer)(&Event::Reconnect {
            worker: self.id,
            offset,
        });
        tracing::warn!(worker = self.id, offset, "reconnecting to the source");
        self.reader
            .reconnect()
            .map_err(|cause| CopyError::Reconnect { offset, cause })
    }

    fn store_data(&mut self, offset: u64, buf: &Buffer) -> Result<(), CopyError> {
        let data = buf.as_slice();
        let mut result = Ok(());
        let skip_zero = self.plan.destination_is_zero;
        let mut runs = std::mem::take(&mut self.runs);
        runs.clear();
        buffer::zero_runs(data, self.plan.zero_block, |at, len, zero| {
            runs.push((at, len, zero))
        });
        for &(at, len, zero) in &runs {
            let at_offset = offset + at as u64;
            if zero && skip_zero {
                self.shared
                    .counters
                    .skipped
                    .fetch_add(len as u64, Ordering::Relaxed);
                continue;
            }
            result = if zero {
                self.store_zero(at_offset, len as u64)
            } else {
                let slice = &data[at..at + len];
                self.with_retries("write", at_offset, len as u64, |w| {
                    w.write(at_offset, slice)
                })
                .map(|()| {
                    self.shared
                        .counters
                        .written
                        .fetch_add(len as u64, Ordering::Relaxed);
                })
            };
            if result.is_err() {
                break;
            }
        }
        self.runs = runs;
        result
    }

    fn store_zero(&mut self, offset: u64, length: u64) -> Result<(), CopyError> {
        if self.plan.destination_is_zero {
            self.shared
                .counters
                .skipped
                .fetch_add(length, Ordering::Relaxed);
            return Ok(());
        }
        self.with_retries("zeroing", offset, length, |w| w.zero(offset, length))?;
        self.shared
            .counters
            .zeroed
            .fetch_add(length, Ordering::Relaxed);
        Ok(())
    }

    fn with_retries(
        &mut self,
        operation: &'static str,
        offset: u64,
        length: u64,
        mut op: impl FnMut(&mut dyn SinkWriter) -> Result<(), Failure>,
    ) -> Result<(), CopyError> {
        let mut attempt = 0;
        loop {
            match op(self.writer.as_mut()) {
                Ok(()) => return Ok(()),
                Err(cause)
                    if cause.kind == FailureKind::Transient && attempt < self.plan.retries =>
                {
                    attempt += 1;
                    (self.shared.observer)(&Event::Retry {
                        offset,
                        length,
                        attempt,
                        cause: cause.message.clone(),
                    });
                    std::thread::sleep(self.plan.retry_delay * 2u32.saturating_pow(attempt - 1));
                }
                Err(cause) => {
                    return Err(CopyError::Write {
                        operation,
                        offset,
                        length,
                        cause,
                    });
                }
            }
        }
    }
}
