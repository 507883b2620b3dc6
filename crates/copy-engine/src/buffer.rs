//! Page-aligned I/O buffers, reused for the whole copy: the hot path never allocates
//! (musl's allocator is slow, and a steady set of buffers keeps RSS flat).

/// Alignment suitable for `O_DIRECT` on any device.
pub const ALIGN: usize = 4096;

/// A page-aligned byte buffer of adjustable length (up to its capacity).
pub struct Buffer {
    storage: Vec<u8>,
    start: usize,
    len: usize,
    capacity: usize,
}

impl Buffer {
    pub fn new(capacity: usize) -> Self {
        let storage = vec![0u8; capacity + ALIGN];
        let misalignment = storage.as_ptr() as usize % ALIGN;
        let start = if misalignment == 0 {
            0
        } else {
            ALIGN - misalignment
        };
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

/// Buffers owned by one worker.
pub struct Pool {
    free: Vec<Buffer>,
    size: usize,
}

impl Pool {
    pub fn new(size: usize) -> Self {
        Pool {
            free: Vec::new(),
            size,
        }
    }

    pub fn take(&mut self, len: usize) -> Buffer {
        let mut buf = self.free.pop().unwrap_or_else(|| Buffer::new(self.size));
        buf.set_len(len);
        buf
    }

    pub fn give(&mut self, buf: Buffer) {
        if buf.capacity() == self.size {
            self.free.push(buf);
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

    #[test]
    fn buffers_are_page_aligned() {
        for cap in [1, 4096, 65_536, 262_144] {
            let mut b = Buffer::new(cap);
            assert_eq!(b.as_mut().as_ptr() as usize % ALIGN, 0);
            assert_eq!(b.len(), cap);
        }
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
