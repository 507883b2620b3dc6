//! Polling a resource until it reaches a state, with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What one look at the resource found.
pub(crate) enum Check<T> {
    Done(T),
    /// Not there yet; the text says what was seen, for the timeout message.
    Pending(String),
}

const FIRST_INTERVAL: Duration = Duration::from_millis(500);
const MAX_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) async fn poll<T, F, Fut>(what: String, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>>>,
{
    let start = Instant::now();
    let mut interval = FIRST_INTERVAL;
    loop {
        match check().await? {
            Check::Done(value) => return Ok(value),
            Check::Pending(last_seen) => {
                let waited = start.elapsed();
                if waited >= timeout {
                    return Err(Error::Timeout {
                        what,
                        waited,
                        last_seen,
                    });
                }
                tokio::time::sleep(interval.min(timeout - waited)).await;
                interval = (interval * 2).min(MAX_INTERVAL);
            }
        }
    }
}
