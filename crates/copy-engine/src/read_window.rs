//! How many bytes of reads one worker keeps in flight: as few as keep it busy.

use std::time::Duration;

/// A worker's read window, sized after the reads it has seen as TCP Vegas sizes a congestion
/// window: a read slower than the fastest one waited behind others, and
/// window x (1 - fastest / took) estimates the bytes queued at the source. Only reads the
/// worker was starved for (it waited for one while the window, below its ceiling, held
/// others back) count, as only their time is the source's alone; the first window's reads
/// only find the fastest. The window changes once per round (a window's worth of such reads),
/// on the round's median: under half a request queued it grows by a request, over two it
/// shrinks by one, between two requests and the ceiling (the worker's share of the queue).
///
/// Why: a source with a round trip per read (VDDK, a remote host) serves more reads at once
/// without slowing each, and its window grows to the ceiling; one busy copying (nbdkit on the
/// same host) answers more reads in flight with slower reads, a destination slower than the
/// source never lets the worker wait, and in both the window stays small, and so do the
/// buffers: every new one is memory the kernel zeroes on first touch (on this machine kind
/// the host faults it in as well, 0.7-3 ms per MiB: the slowest quarter of our delta copies
/// spent 19-27% of all CPU there), holding data that has left the CPU's caches before it is
/// written. Measured against a fixed window of the queue's share (paired alternating runs,
/// scripts/bench-copy sources): 5% delta to a file 0.85x the wall time, 0.89x the CPU
/// system-wide, peak RSS 27 instead of 51 MiB (10 pairs); dense 4 GiB 0.99x, 0.94x, 17
/// instead of 36 MiB; sparse 16 GiB 1.01x, 0.93x, 31 instead of 51 MiB (4 pairs each); a
/// source answering each read after 10 ms, copied to nbdkit's `null`, 0.90x (4 pairs).
///
/// Deciding on each read alone grew the window on a source on the same host whenever one
/// read happened to be unqueued (two CPUs shared by nbdkit, the kernel and us make read times
/// vary tenfold). The round's median with half a request as the bar, against that: 5% delta
/// to a loop device 0.88x the CPU system-wide, peak RSS 21 instead of 27 MiB (14 pairs); a
/// source taking 5 +/- 2 ms per read still grows to the ceiling (the round's largest estimate
/// as the bar stopped it at 4-6 MiB, 1.5x the wall time).
#[derive(Debug)]
pub(crate) struct ReadWindow {
    bytes: u64,
    request: u64,
    floor: u64,
    ceiling: u64,
    /// The shortest time a read took: the source's latency with nothing queued ahead.
    fastest: Option<Duration>,
    /// Reads timed so far.
    timed: u64,
    /// Requests queued at the source, as estimated from each counted read of this round.
    round: Vec<f64>,
}

impl ReadWindow {
    /// A window of two requests of `request` bytes that may grow to `ceiling` bytes.
    pub(crate) fn new(request: u64, ceiling: u64) -> Self {
        let floor = (2 * request).min(ceiling);
        ReadWindow {
            bytes: floor,
            request,
            floor,
            ceiling,
            fastest: None,
            timed: 0,
            round: Vec::new(),
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn can_grow(&self) -> bool {
        self.bytes < self.ceiling
    }

    /// A successful full-size read took `took`, from sending it to the worker taking its
    /// completion; `starved`: the worker waited for it while the window held reads back.
    pub(crate) fn observe(&mut self, took: Duration, starved: bool) {
        let fastest = *self
            .fastest
            .insert(self.fastest.map_or(took, |f| f.min(took)));
        self.timed += 1;
        if !starved || self.timed <= self.floor / self.request {
            return;
        }
        let queued_share = 1.0 - fastest.as_secs_f64() / took.as_secs_f64().max(1e-9);
        self.round
            .push(self.bytes as f64 * queued_share / self.request as f64);
        if (self.round.len() as u64) < self.bytes / self.request {
            return;
        }
        // The upper median of an even round: growing needs most of the round unqueued.
        self.round.sort_by(f64::total_cmp);
        let queued_requests = self.round[self.round.len() / 2];
        self.round.clear();
        if queued_requests < 0.5 {
            self.bytes = (self.bytes + self.request).min(self.ceiling);
        } else if queued_requests > 2.0 {
            self.bytes = (self.bytes - self.request).max(self.floor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const REQUEST: u64 = 2 * MIB;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds `reads` to `window`, each `starved` or not; returns the window in requests.
    fn observe_all(
        window: &mut ReadWindow,
        reads: impl IntoIterator<Item = Duration>,
        starved: bool,
    ) -> u64 {
        for took in reads {
            window.observe(took, starved);
        }
        window.bytes() / REQUEST
    }

    fn window() -> ReadWindow {
        ReadWindow::new(REQUEST, 16 * MIB)
    }

    #[test]
    fn reads_that_are_never_queued_grow_the_window_to_its_ceiling() {
        let reads = std::iter::repeat_n(ms(10), 60);
        assert_eq!(observe_all(&mut window(), reads, true), 8);
    }

    #[test]
    fn one_unqueued_read_among_queued_ones_does_not_grow_the_window() {
        // Every other read as fast as the fastest, the others twice as slow (a request queued
        // at two in flight): each round's median is queued, so the window stays at two
        // requests. Deciding on each read alone grew it on every fast read, to four or five.
        let reads = (0..60).map(|i| if i % 2 == 0 { ms(1) } else { ms(2) });
        assert_eq!(observe_all(&mut window(), reads, true), 2);
    }

    #[test]
    fn reads_slowed_by_the_window_shrink_it_back() {
        // Unqueued until the window reaches six requests, then every read is as slow as the
        // whole window ahead of it: the window comes back down, not below two requests.
        let mut window = window();
        while window.bytes() < 6 * REQUEST {
            window.observe(ms(1), true);
        }
        let reads = std::iter::repeat_n(ms(20), 60);
        assert_eq!(observe_all(&mut window, reads, true), 2);
    }

    #[test]
    fn reads_the_worker_did_not_wait_for_leave_the_window_alone() {
        let reads = std::iter::repeat_n(ms(10), 60);
        assert_eq!(observe_all(&mut window(), reads, false), 2);
    }

    #[test]
    fn a_ceiling_below_two_requests_is_the_window() {
        let mut window = ReadWindow::new(REQUEST, 3 * MIB);
        observe_all(&mut window, std::iter::repeat_n(ms(10), 20), true);
        assert_eq!(window.bytes(), 3 * MIB);
        assert!(!window.can_grow());
    }
}
