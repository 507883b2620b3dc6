use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A flag that SIGTERM and SIGINT set; give it to [`crate::CopyOptions::cancel`] so the copy
/// stops issuing requests, drains, flushes and returns [`crate::CopyError::Cancelled`].
pub fn cancel_on_signals() -> io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&flag))?;
    }
    Ok(flag)
}
