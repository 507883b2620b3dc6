use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Stops copies: a flag workers look at between requests, and a teardown of every NBD
/// connection opened with [`Cancel::connect_options`], so a request blocked on a stalled server
/// returns at once instead of when (if ever) the server answers.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    teardown: nbd::Teardown,
}

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.teardown.fire();
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// `base` with this cancel's teardown: connections made with it end when it is cancelled.
    pub fn connect_options(&self, base: &nbd::ConnectOptions) -> nbd::ConnectOptions {
        nbd::ConnectOptions {
            teardown: self.teardown.clone(),
            ..base.clone()
        }
    }
}

/// A [`Cancel`] that SIGTERM and SIGINT trigger; give it to [`crate::CopyOptions::cancel`] and
/// open the source and destination with its [`Cancel::connect_options`]: the copy stops issuing,
/// its connections are shut down, what was written is flushed, and it returns
/// [`crate::CopyError::Cancelled`].
///
/// A thread waits for the signals (not a handler): tearing connections down takes locks, which a
/// signal handler must not.
pub fn cancel_on_signals() -> io::Result<Cancel> {
    let cancel = Cancel::new();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    let on_signal = cancel.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                tracing::warn!(signal, "signal received: stopping the copies");
                on_signal.cancel();
            }
        })?;
    Ok(cancel)
}
