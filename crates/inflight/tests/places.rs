use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use inflight::{Error, Request, acquire, release};

fn request(holder: &str, limits: &[(&str, u32)]) -> Request {
    Request {
        holder: holder.into(),
        limits: limits
            .iter()
            .map(|(r, l)| (r.to_string(), *l))
            .collect::<BTreeMap<_, _>>(),
    }
}

const POLL: Duration = Duration::from_millis(5);
const LONG: Duration = Duration::from_secs(30);

fn wait_ok() -> Result<(), String> {
    Ok(())
}

/// Places taken with a long wait, for the steps of a test that must succeed.
fn take(dir: &std::path::Path, request: &Request) -> inflight::Acquired {
    acquire(dir, request, LONG, POLL, wait_ok).unwrap()
}

#[test]
fn never_more_than_the_limit_hold_a_resource_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let dir = dir.path().to_path_buf();
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            std::thread::spawn(move || {
                let vm = format!("vm{i}");
                take(&dir, &request(&vm, &[("esxi h1", 2)]));
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                assert!(release(&dir, &vm).unwrap());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "the limit was used, never passed"
    );
}

#[test]
fn other_resources_and_unlimited_ones_do_not_wait() {
    let dir = tempfile::tempdir().unwrap();
    take(dir.path(), &request("a", &[("esxi h1", 1)]));
    let b = take(dir.path(), &request("b", &[("esxi h2", 1)]));
    assert!(b.newly);
    let c = acquire(
        dir.path(),
        &request("c", &[("esxi h1", 0), ("datastore d1", 0)]),
        Duration::ZERO,
        POLL,
        wait_ok,
    )
    .unwrap();
    assert!(c.in_flight.is_empty(), "no limit, nothing counted: {c:?}");
}

#[test]
fn a_wait_that_times_out_names_the_full_resource_its_holders_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    take(dir.path(), &request("web01", &[("esxi h1", 1)]));
    let err = acquire(
        dir.path(),
        &request("db01", &[("esxi h1", 1), ("datastore d1", 4)]),
        Duration::from_millis(50),
        POLL,
        wait_ok,
    )
    .unwrap_err();
    assert!(matches!(err, Error::TimedOut { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "no place within 0 s: esxi h1 has 1 of 1 in flight (web01)"
    );
    // The timed-out waiter left the queue: a later one for the same host is served at once
    // when the holder leaves.
    assert!(release(dir.path(), "web01").unwrap());
    let next = acquire(
        dir.path(),
        &request("app01", &[("esxi h1", 1)]),
        Duration::ZERO,
        POLL,
        wait_ok,
    )
    .unwrap();
    assert_eq!(next.in_flight["esxi h1"], vec!["app01".to_string()]);
}

#[test]
fn waiters_are_served_in_the_order_they_came_per_resource() {
    let dir = tempfile::tempdir().unwrap();
    take(dir.path(), &request("on-host", &[("esxi h1", 1)]));
    take(dir.path(), &request("on-datastore", &[("datastore d1", 1)]));
    let order = Arc::new(Mutex::new(Vec::new()));
    let spawn = |name: &'static str, limits: Vec<(&'static str, u32)>| {
        let dir = dir.path().to_path_buf();
        let order = order.clone();
        std::thread::spawn(move || {
            take(&dir, &request(name, &limits));
            order.lock().unwrap().push(name);
            std::thread::sleep(Duration::from_millis(30));
            release(&dir, name).unwrap();
        })
    };
    // "both" needs the host and the datastore; "host-only" comes later. When the host frees up
    // while the datastore is still held, "host-only" could take the host, and with a stream of
    // such VMs "both" would never find both free at once: it must wait its turn instead.
    let both = spawn("both", vec![("esxi h1", 1), ("datastore d1", 1)]);
    std::thread::sleep(Duration::from_millis(50));
    let host_only = spawn("host-only", vec![("esxi h1", 1)]);
    std::thread::sleep(Duration::from_millis(50));
    release(dir.path(), "on-host").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(order.lock().unwrap().is_empty(), "host-only overtook both");
    release(dir.path(), "on-datastore").unwrap();
    both.join().unwrap();
    host_only.join().unwrap();
    assert_eq!(*order.lock().unwrap(), vec!["both", "host-only"]);
}

#[test]
fn a_waiter_that_died_does_not_hold_up_the_line() {
    let dir = tempfile::tempdir().unwrap();
    take(dir.path(), &request("holder", &[("esxi h1", 1)]));
    // A waiter in another process, killed while it waited (a cancelled play).
    let mut child = std::process::Command::new("/bin/sleep")
        .env_clear()
        .arg("60")
        .spawn()
        .unwrap();
    let state = dir.path().join("places.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    json["queue"] =
        serde_json::json!([{"holder": "gone", "resources": ["esxi h1"], "pid": child.id()}]);
    std::fs::write(&state, serde_json::to_vec(&json).unwrap()).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    release(dir.path(), "holder").unwrap();
    let next = acquire(
        dir.path(),
        &request("next", &[("esxi h1", 1)]),
        Duration::ZERO,
        POLL,
        wait_ok,
    )
    .unwrap();
    assert!(next.newly);
}

#[test]
fn a_stop_ends_the_wait_and_a_repeat_holds_what_it_held() {
    let dir = tempfile::tempdir().unwrap();
    let held = take(dir.path(), &request("a", &[("esxi h1", 1)]));
    let again = take(dir.path(), &request("a", &[("esxi h1", 1)]));
    assert!(held.newly && !again.newly);
    let err = acquire(
        dir.path(),
        &request("b", &[("esxi h1", 1)]),
        LONG,
        POLL,
        || Err("the play is gone".into()),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "stopped while waiting for a place (the play is gone)"
    );
    assert!(!release(dir.path(), "b").unwrap(), "b never held a place");
    assert!(!release(&dir.path().join("absent"), "a").unwrap());
}

#[test]
fn a_lock_held_by_a_hung_process_is_a_bounded_wait() {
    let dir = tempfile::tempdir().unwrap();
    take(dir.path(), &request("a", &[("esxi h1", 1)]));
    let lock = std::fs::File::open(dir.path().join("places.lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let started = std::time::Instant::now();
    let err = release(dir.path(), "a").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15), "bounded");
    assert!(
        err.to_string()
            .ends_with("places.lock: another process has held the lock for 10 s; find it with `fuser` and stop it"),
        "{err}"
    );
}
