//! Page-aligned I/O buffers, reused for the whole copy: the hot path never allocates
//! (musl's allocator is slow, and a steady set of buffers keeps RSS flat).

/// Alignment suitable for `O_DIRECT` on any device.
pub const ALIGN: usize = 4096;

/// A transparent huge page on x86_64. Buffers of at least this size start on its boundary and
/// are marked for huge pages (`MADV_HUGEPAGE`; most distributions enable transparent huge pages
/// only where asked): a 2 MiB direct write from one huge page is one physically contiguous
/// segment, where from 4 KiB pages it is 512 segments, more than a virtio disk takes in one
/// request (max_segments 254 here), so the kernel split each write into three. Measured on this
/// machine kind (scripts/bench-copy's 4 GiB dense source to a new file, paired alternating runs,
/// 6 pairs): 2053 write requests instead of 4613, 0.72x the wall time, 0.87x the CPU
/// system-wide. Where huge pages are off, the advice is ignored and nothing else changes.
const HUGE_PAGE: usize = 2 << 20;

/// A page-aligned byte buffer of adjustable length (up to its capacity).
pub struct Buffer {
    storage: Vec<u8>,
    start: usize,
    len: usize,
    capacity: usize,
}

impl Buffer {
    pub fn new(capacity: usize) -> Self {
        let align = if capacity >= HUGE_PAGE {
            HUGE_PAGE
        } else {
            ALIGN
        };
        // Zeroed allocations this large come straight from mmap, untouched: the advice below
        // is in place before the first fault, so the pages are huge from the start.
        let storage = vec![0u8; capacity + align];
        let misalignment = storage.as_ptr() as usize % align;
        let start = if misalignment == 0 {
            0
        } else {
            align - misalignment
        };
        if align == HUGE_PAGE {
            let huge_bytes = capacity / HUGE_PAGE * HUGE_PAGE;
            // SAFETY: advice on whole huge pages inside an allocation we own; it changes how
            // the kernel backs them, never their contents. A refusal (no THP in this kernel)
            // leaves 4 KiB pages, which work as before.
            unsafe {
                libc::madvise(
                    storage.as_ptr().add(start) as *mut libc::c_void,
                    huge_bytes,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
        Buffer {
            storage,
            start,
            len: capacity,
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the length used; clamped to the capacity.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity);
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }
}

impl AsMut<[u8]> for Buffer {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// Buffers owned by one worker, in power-of-two size classes from [`SMALLEST_CLASS`] up to the
/// request size: a new buffer for a 64 KiB extent of a sparse disk is 64 KiB, not a whole
/// request's (with 2 MiB requests, full-size buffers for every small read took peak RSS past
/// 64 MiB). Free buffers are kept up to `retain` bytes, the largest first.
///
/// A read takes the smallest free buffer that holds it, of its own class or larger, and a new
/// buffer is made only when none does. Why: every new buffer is fresh memory the kernel zeroes
/// page by page on first touch, and on a VM that hands freed memory back to its host (free page
/// reporting) the host faults it in again as well. A CBT delta's areas end in reads of every
/// size; when only the exact class was reused, 97 of its 155 reads made a new buffer and
/// page zeroing was 46% of all CPU the copy took (`perf record -a`).
pub struct Pool {
    free: Vec<Buffer>,
    largest: usize,
    retained: usize,
    retain: usize,
}

/// Reads smaller than this share its buffers.
pub const SMALLEST_CLASS: usize = 64 * 1024;

impl Pool {
    /// `largest`: the largest read; `retain`: free bytes kept for reuse.
    pub fn new(largest: usize, retain: usize) -> Self {
        Pool {
            free: Vec::new(),
            largest,
            retained: 0,
            retain,
        }
    }

    fn class(&self, len: usize) -> usize {
        len.max(SMALLEST_CLASS)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
            .min(self.largest.max(len))
    }

    /// Index of the smallest free buffer of at least `capacity` bytes.
    fn smallest_free(&self, capacity: usize) -> Option<usize> {
        self.free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= capacity)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i)
    }

    pub fn take(&mut self, len: usize) -> Buffer {
        let class = self.class(len);
        let mut buf = match self.smallest_free(class) {
            Some(i) => {
                let buf = self.free.swap_remove(i);
                self.retained -= buf.capacity();
                buf
            }
            None => Buffer::new(class),
        };
        buf.set_len(len);
        buf
    }

    /// Keeps `buf` for reuse; past `retain` bytes, the smallest free buffers go (a large one
    /// serves every read, a small one only small reads).
    pub fn give(&mut self, buf: Buffer) {
        self.retained += buf.capacity();
        self.free.push(buf);
        while self.retained > self.retain
            && let Some(smallest) = self.smallest_free(0)
        {
            self.retained -= self.free.swap_remove(smallest).capacity();
        }
    }
}

/// True when every byte of `block` is zero. Checks 256-byte strides with an OR-fold the
/// compiler vectorizes, stopping at the first stride with data.
pub fn is_zero(block: &[u8]) -> bool {
    block
        .chunks(256)
        .all(|stride| stride.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

/// Splits `data` into alternating runs of data and zeroes, each a multiple of `block` bytes
/// (the last may be shorter), calling `each(offset_in_data, length, is_zero)` per run.
pub fn zero_runs(data: &[u8], block: usize, mut each: impl FnMut(usize, usize, bool)) {
    let block = block.max(1);
    let mut run_start = 0;
    let mut run_zero = None;
    for (i, chunk) in data.chunks(block).enumerate() {
        let zero = is_zero(chunk);
        match run_zero {
            Some(z) if z == zero => {}
            Some(z) => {
                each(run_start, i * block - run_start, z);
                run_start = i * block;
                run_zero = Some(zero);
            }
            None => run_zero = Some(zero),
        }
    }
    if let Some(z) = run_zero {
        each(run_start, data.len() - run_start, z);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The /proc/self/smaps lines of the mapping holding `addr`, if found.
    fn smaps_entry_of(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut entry: Option<String> = None;
        for line in smaps.lines() {
            let range = line
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'));
            if let Some((lo, hi)) = range
                && let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                if entry.is_some() {
                    return entry;
                }
                if (lo..hi).contains(&addr) {
                    entry = Some(String::new());
                }
                continue;
            }
            if let Some(e) = entry.as_mut() {
                e.push_str(line);
                e.push('\n');
            }
        }
        entry
    }

    #[test]
    fn request_sized_buffers_start_on_a_huge_page_and_may_use_huge_pages() {
        let mut buf = Buffer::new(2 << 20);
        let addr = buf.as_mut().as_ptr() as usize;
        assert_eq!(addr % HUGE_PAGE, 0, "a 2 MiB buffer at {addr:#x}");
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            eprintln!("this kernel has no transparent huge pages: only the alignment is checked");
            return;
        }
        let entry = smaps_entry_of(addr).expect("the buffer's mapping in /proc/self/smaps");
        let advised = entry
            .lines()
            .find_map(|l| l.strip_prefix("VmFlags:"))
            .is_some_and(|flags| flags.split_whitespace().any(|f| f == "hg"));
        assert!(
            advised,
            "the buffer is not advised for huge pages:\n{entry}"
        );
    }

    #[test]
    fn buffers_are_page_aligned() {
        for cap in [1, 4096, 65_536, 262_144] {
            let mut b = Buffer::new(cap);
            assert_eq!(b.as_mut().as_ptr() as usize % ALIGN, 0);
            assert_eq!(b.len(), cap);
        }
    }

    #[test]
    fn pool_sizes_buffers_by_class_and_bounds_what_it_keeps() {
        let mut pool = Pool::new(2 << 20, 4 << 20);
        let small = pool.take(4096);
        assert_eq!((small.len(), small.capacity()), (4096, SMALLEST_CLASS));
        let mid = pool.take(300 * 1024);
        assert_eq!(mid.capacity(), 512 * 1024);
        let full = pool.take(2 << 20);
        assert_eq!(full.capacity(), 2 << 20);
        let mid_ptr = mid.as_slice().as_ptr();
        pool.give(small);
        pool.give(mid);
        pool.give(full);
        // Reused by class: a 400 KiB read gets the 512 KiB buffer back.
        let again = pool.take(400 * 1024);
        assert_eq!(again.as_slice().as_ptr(), mid_ptr);
        // Not more than `retain` bytes are kept: 2 MiB + 64 KiB + two more 2 MiB buffers.
        let a = pool.take(2 << 20);
        let b = pool.take(2 << 20);
        let c = pool.take(2 << 20);
        pool.give(a);
        pool.give(b);
        pool.give(c);
        assert!(pool.retained <= 4 << 20, "{} bytes kept", pool.retained);
        // Seen failing when only the exact class was reused: a read with no free buffer of its
        // class takes the smallest larger one instead of making a new buffer.
        let mut pool = Pool::new(2 << 20, 4 << 20);
        let full = pool.take(2 << 20);
        let full_ptr = full.as_slice().as_ptr();
        pool.give(full);
        let tail = pool.take(700 * 1024);
        assert_eq!(tail.as_slice().as_ptr(), full_ptr);
        assert_eq!((tail.len(), tail.capacity()), (700 * 1024, 2 << 20));
        // Past `retain`, the smallest free buffers go first: 2 MiB serves any read.
        let small = pool.take(64 * 1024);
        let other_full = pool.take(2 << 20);
        pool.give(small);
        pool.give(tail);
        pool.give(other_full);
        assert_eq!(pool.retained, 4 << 20);
        assert!(pool.free.iter().all(|b| b.capacity() == 2 << 20));
        // A request size that is not a power of two is a class of its own.
        let mut odd = Pool::new(192 * 1024, 1 << 20);
        assert_eq!(odd.take(150 * 1024).capacity(), 192 * 1024);
        assert_eq!(odd.take(100 * 1024).capacity(), 128 * 1024);
    }

    #[test]
    fn finds_zero_runs() {
        let mut data = vec![0u8; 10 * 4096 + 100];
        data[4096 * 2 + 5] = 1;
        data[4096 * 3] = 1;
        data[10 * 4096 + 99] = 7;
        let mut runs = Vec::new();
        zero_runs(&data, 4096, |o, l, z| runs.push((o, l, z)));
        assert_eq!(
            runs,
            vec![
                (0, 8192, true),
                (8192, 8192, false),
                (16384, 24576, true),
                (40960, 100, false)
            ]
        );
    }

    proptest! {
        #[test]
        fn zero_runs_cover_the_data_and_classify_correctly(
            marks in proptest::collection::vec(0usize..20_000, 0..10),
            len in 0usize..20_000,
            block in prop_oneof![Just(512usize), Just(4096), Just(1000)]
        ) {
            let mut data = vec![0u8; len];
            for m in marks.into_iter().filter(|&m| m < len) {
                data[m] = 1;
            }
            let mut next = 0;
            zero_runs(&data, block, |o, l, z| {
                assert_eq!(o, next);
                assert!(l > 0);
                assert_eq!(is_zero(&data[o..o + l]), z);
                next = o + l;
            });
            prop_assert_eq!(next, len);
        }
    }
}
