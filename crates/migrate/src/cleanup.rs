//! Undo on every exit path. Each step that leaves something behind (our snapshot, a volume
//! attached to the conversion host) registers how to undo it, and unregisters once it undid it
//! itself. When a run fails or is cancelled, whatever is still registered is undone, newest
//! first, after the copies in flight have stopped (a volume is never detached under a writer).
//! Powering the source VM off registers powering it on again, so that comes last, once the
//! snapshot is gone.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use copy_engine::Cancel;
use vsphere::MoRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    RemoveSnapshot {
        snapshot: MoRef,
    },
    Detach {
        server_id: String,
        volume_id: String,
    },
    /// The VM was on when the run began and the run powers it off.
    PowerOn {
        vm: MoRef,
    },
}

pub struct Cleanup {
    pending: Mutex<Vec<Undo>>,
    copies_running: AtomicUsize,
    cancel: Cancel,
    /// The run powered a running VM off and was told not to power it on again on failure.
    source_left_off: AtomicBool,
}

impl Cleanup {
    /// `cancel` is what signals trigger (see `copy_engine::cancel_on_signals`).
    pub fn new(cancel: Cancel) -> Arc<Self> {
        Arc::new(Cleanup {
            pending: Mutex::new(Vec::new()),
            copies_running: AtomicUsize::new(0),
            cancel,
            source_left_off: AtomicBool::new(false),
        })
    }

    pub fn register(&self, undo: Undo) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(undo);
    }

    pub fn done(&self, undo: &Undo) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = pending.iter().rposition(|u| u == undo) {
            pending.remove(i);
        }
    }

    /// Instead of registering [`Undo::PowerOn`]: a failure leaves the VM off, and says so.
    pub fn leave_source_off(&self) {
        self.source_left_off.store(true, Ordering::SeqCst);
    }

    pub fn source_left_off(&self) -> bool {
        self.source_left_off.load(Ordering::SeqCst)
    }

    pub fn take_all(&self) -> Vec<Undo> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = std::mem::take(&mut *pending);
        all.reverse();
        all
    }

    /// Stops the copies (their NBD connections are torn down); on failure elsewhere or by a
    /// signal.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// What copies watch, and whose teardown their connections are opened with.
    pub fn cancel_handle(&self) -> Cancel {
        self.cancel.clone()
    }

    pub fn copy_started(self: &Arc<Self>) -> CopyInFlight {
        self.copies_running.fetch_add(1, Ordering::SeqCst);
        CopyInFlight(Arc::clone(self))
    }

    /// Waits (at most `limit`) until no copy thread writes to an attached volume.
    pub async fn copies_stopped(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while self.copies_running.load(Ordering::SeqCst) > 0 {
            if start.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }
}

/// Counts a copy as running until dropped (at the end of its thread, however it ends).
pub struct CopyInFlight(Arc<Cleanup>);

impl Drop for CopyInFlight {
    fn drop(&mut self) {
        self.0.copies_running.fetch_sub(1, Ordering::SeqCst);
    }
}
