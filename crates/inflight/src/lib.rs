//! Places in flight per source resource: at most N migrations read from one ESXi host (or one
//! datastore) at once, across every conversion host and slot of a run.
//!
//! The migrations of a run are processes of one controller (Ansible's slots), so their shared
//! state is one JSON file in a directory of the controller, read and rewritten under an
//! exclusive `flock` on a lock file beside it. No daemon: a process that takes places writes
//! them and leaves; one that releases them removes them.
//!
//! Waiters queue in arrival order per resource: a migration waiting for a place on host A is
//! served before one that asked later for a place on A, so a VM that needs two resources (a host
//! and a datastore) is not starved by VMs that need only one of them. A waiter records its pid;
//! one that died while waiting (a cancelled play) is dropped from the queue by the next reader.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};

const STATE_FILE: &str = "places.json";
const LOCK_FILE: &str = "places.lock";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a state file of in-flight places: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no place within {waited_s} s: {}", describe_full(.full))]
    TimedOut { waited_s: u64, full: Vec<Full> },
    #[error("stopped while waiting for a place ({reason})")]
    Stopped { reason: String },
}

/// A resource that had no place for the waiter when its wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Full {
    pub resource: String,
    pub limit: u32,
    pub holders: Vec<String>,
    /// Waiters ahead of this one for the resource.
    pub queued_ahead: Vec<String>,
}

fn describe_full(full: &[Full]) -> String {
    full.iter()
        .map(|f| {
            let mut text = format!(
                "{} has {} of {} in flight ({})",
                f.resource,
                f.holders.len(),
                f.limit,
                f.holders.join(", ")
            );
            if !f.queued_ahead.is_empty() {
                text.push_str(&format!(
                    ", {} waiting before it ({})",
                    f.queued_ahead.len(),
                    f.queued_ahead.join(", ")
                ));
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What one migration asks for: a place on each resource that has a limit (0: none).
#[derive(Debug, Clone)]
pub struct Request {
    pub holder: String,
    pub limits: BTreeMap<String, u32>,
}

impl Request {
    /// The resources that have a limit, with it.
    pub fn limited(&self) -> impl Iterator<Item = (&String, u32)> {
        self.limits
            .iter()
            .filter(|(_, limit)| **limit > 0)
            .map(|(resource, limit)| (resource, *limit))
    }
}

/// The outcome of [`acquire`].
#[derive(Debug, Clone, PartialEq)]
pub struct Acquired {
    /// False when the holder held its places already (a repeated call).
    pub newly: bool,
    pub waited: Duration,
    /// Per limited resource, the holders in flight on it now, this one included.
    pub in_flight: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    holders: BTreeMap<String, Holding>,
    queue: Vec<Waiter>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Holding {
    resources: Vec<String>,
    since_unix: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Waiter {
    holder: String,
    resources: Vec<String>,
    pid: i32,
}

impl State {
    fn holders_of(&self, resource: &str) -> Vec<String> {
        self.holders
            .iter()
            .filter(|(_, h)| h.resources.iter().any(|r| r == resource))
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn waiters_before(&self, holder: &str, resource: &str) -> Vec<String> {
        self.queue
            .iter()
            .take_while(|w| w.holder != holder)
            .filter(|w| w.resources.iter().any(|r| r == resource))
            .map(|w| w.holder.clone())
            .collect()
    }

    /// The resources that have no place for `request` now, or none when it may take them all.
    fn full_for(&self, request: &Request) -> Vec<Full> {
        request
            .limited()
            .filter_map(|(resource, limit)| {
                let holders = self.holders_of(resource);
                let queued_ahead = self.waiters_before(&request.holder, resource);
                (holders.len() >= limit as usize || !queued_ahead.is_empty()).then(|| Full {
                    resource: resource.clone(),
                    limit,
                    holders,
                    queued_ahead,
                })
            })
            .collect()
    }

    fn forget_dead_waiters(&mut self) {
        self.queue.retain(|w| process_alive(w.pid));
    }
}

fn process_alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        // EPERM still means the process exists.
        Some(pid) => !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        ),
        None => false,
    }
}

/// The state file of `dir` under an exclusive lock, held until the guard is dropped.
struct Locked {
    dir: PathBuf,
    _lock: File,
    state: State,
}

impl Locked {
    fn open(dir: &Path) -> Result<Self, Error> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| io(dir, source))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|source| io(&lock_path, source))?;
        take_lock(&lock).map_err(|source| io(&lock_path, source))?;
        let state_path = dir.join(STATE_FILE);
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Corrupt {
                path: state_path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(source) => return Err(io(&state_path, source)),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            _lock: lock,
            state,
        })
    }

    /// Replaces the state file whole, so a reader never sees half of it.
    fn save(&self) -> Result<(), Error> {
        let path = self.dir.join(STATE_FILE);
        let temporary = self.dir.join(format!("{STATE_FILE}.new"));
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(|source| Error::Corrupt {
            path: path.clone(),
            source,
        })?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(|source| io(&temporary, source))?;
        file.write_all(&bytes)
            .map_err(|source| io(&temporary, source))?;
        std::fs::rename(&temporary, &path).map_err(|source| io(&path, source))
    }
}

/// A holder keeps the lock for one read and rewrite of a small file; a lock held this long
/// means a holder that hangs (stopped, stuck on a dead disk), and waiting on would be unbounded.
const LOCK_WAIT: Duration = Duration::from_secs(10);

fn take_lock(lock: &File) -> std::io::Result<()> {
    let started = Instant::now();
    loop {
        match flock(lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "another process has held the lock for {} s; find it with `fuser` and stop it",
                        LOCK_WAIT.as_secs()
                    ),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Takes a place on every limited resource of `request` at once, waiting in line (checking
/// every `poll`) up to `timeout`. `keep_waiting` is asked before each wait; false ends the wait
/// with [`Error::Stopped`] and the reason it gives. A wait that ends without places leaves
/// nothing behind.
pub fn acquire(
    dir: &Path,
    request: &Request,
    timeout: Duration,
    poll: Duration,
    mut keep_waiting: impl FnMut() -> Result<(), String>,
) -> Result<Acquired, Error> {
    let started = Instant::now();
    let pid = std::process::id() as i32;
    loop {
        let mut locked = Locked::open(dir)?;
        if locked.state.holders.contains_key(&request.holder) {
            return Ok(Acquired {
                newly: false,
                waited: started.elapsed(),
                in_flight: in_flight(&locked.state, request),
            });
        }
        locked.state.forget_dead_waiters();
        // This process's own entry: a repeated call after a crash of the caller is a new waiter.
        if let Some(waiter) = locked
            .state
            .queue
            .iter_mut()
            .find(|w| w.holder == request.holder)
        {
            waiter.pid = pid;
        } else {
            locked.state.queue.push(Waiter {
                holder: request.holder.clone(),
                resources: request.limited().map(|(r, _)| r.clone()).collect(),
                pid,
            });
        }
        let full = locked.state.full_for(request);
        if full.is_empty() {
            locked.state.queue.retain(|w| w.holder != request.holder);
            locked.state.holders.insert(
                request.holder.clone(),
                Holding {
                    resources: request.limited().map(|(r, _)| r.clone()).collect(),
                    since_unix: unix_now(),
                },
            );
            locked.save()?;
            return Ok(Acquired {
                newly: true,
                waited: started.elapsed(),
                in_flight: in_flight(&locked.state, request),
            });
        }
        let ended = if started.elapsed() >= timeout {
            Some(Error::TimedOut {
                waited_s: started.elapsed().as_secs(),
                full,
            })
        } else {
            keep_waiting().err().map(|reason| Error::Stopped { reason })
        };
        if let Some(error) = ended {
            locked.state.queue.retain(|w| w.holder != request.holder);
            locked.save()?;
            return Err(error);
        }
        locked.save()?;
        drop(locked);
        std::thread::sleep(poll.min(timeout.saturating_sub(started.elapsed())));
    }
}

fn in_flight(state: &State, request: &Request) -> BTreeMap<String, Vec<String>> {
    request
        .limited()
        .map(|(resource, _)| (resource.clone(), state.holders_of(resource)))
        .collect()
}

/// Gives up the places of `holder` (and its place in the queue). False when it held none.
pub fn release(dir: &Path, holder: &str) -> Result<bool, Error> {
    if !dir.join(STATE_FILE).exists() {
        return Ok(false);
    }
    let mut locked = Locked::open(dir)?;
    let held = locked.state.holders.remove(holder).is_some();
    let queued = locked.state.queue.len();
    locked.state.queue.retain(|w| w.holder != holder);
    if held || queued != locked.state.queue.len() {
        locked.save()?;
    }
    Ok(held)
}
