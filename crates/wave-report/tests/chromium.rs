//! The HTML report of a 3-VM wave with one failure (tests/fixtures/wave-report) renders in a
//! real browser, headless Chromium: a screenshot is taken, and every figure in the DOM Chromium
//! built equals the one computed here, independently, from migration-summary.json.
//! `VMKIT_REPORT_SUMMARY=<summary>` and `VMKIT_REPORT_HTML=<its report>` check another wave's
//! (tests/playbooks/migration_many.sh passes a real one's).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/wave-report/migration-summary.json")
}

/// Headless Chromium on a file, with no network and a fresh profile; killed after a minute.
fn chromium(page: &Path, mode: &[String]) -> Vec<u8> {
    let profile = tempfile::tempdir().unwrap();
    let binary = std::env::var("VMKIT_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let mut child = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Anything the page fetched from a network would fail to load.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1280,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {binary} ({e}): install Debian's chromium (scripts/install-deps)")
        });
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chromium failed: {:?}", out.status);
    out.stdout
}

/// `(figure, vm, disk) -> text` of every element with `data-figure` in the serialized DOM.
fn figures(dom: &str) -> BTreeMap<(String, String, String), String> {
    let attribute = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|i| {
            let rest = &tag[i + key.len()..];
            unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
        })
    };
    let mut out = BTreeMap::new();
    let mut rest = dom;
    while let Some(at) = rest.find("data-figure=\"") {
        let open = rest[..at].rfind('<').unwrap();
        let close = at + rest[at..].find('>').unwrap();
        let tag = &rest[open..close];
        let text_end = close + 1 + rest[close + 1..].find('<').unwrap();
        out.insert(
            (
                attribute(tag, "data-figure").unwrap(),
                attribute(tag, "data-vm").unwrap_or_default(),
                attribute(tag, "data-disk").unwrap_or_default(),
            ),
            unescape(&rest[close + 1..text_end]),
        );
        rest = &rest[text_end..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn instant(v: &Value) -> Option<f64> {
    num(v).or_else(|| {
        let t = humantime::parse_rfc3339_weak(v.as_str()?.trim_end_matches('Z')).ok()?;
        Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The figures the report must show, computed from the summary as its reader would.
fn expected(summary: &Value) -> BTreeMap<(String, String, String), String> {
    let gib = |b: f64| format!("{:.2} GiB", b / 1073741824.0);
    let dash = |s: String| {
        if s.trim().is_empty() {
            "—".into()
        } else {
            s.trim().to_owned()
        }
    };
    let key = |f: &str, vm: &str, d: &str| (f.to_owned(), vm.to_owned(), d.to_owned());
    let mut out = BTreeMap::new();
    let (mut total, mut failed, mut longest) = (0.0, 0, None::<f64>);
    let vms = summary.as_array().unwrap();
    for vm in vms {
        let name = text(&vm["vm"]);
        let disks = vm["disks"].as_array().cloned().unwrap_or_default();
        // + 0.0: an empty f64 sum is -0.0, which prints as "-0.00".
        let copied: f64 = disks
            .iter()
            .filter_map(|d| num(&d["bytes_copied"]))
            .sum::<f64>()
            + 0.0;
        total += copied;
        failed += usize::from(vm["status"] == "failed");
        let off = vm["timeline"]
            .as_array()
            .and_then(|t| t.iter().find(|s| s["step"] == "power_off"))
            .and_then(|s| instant(&s["started"]));
        let downtime = match (
            off,
            instant(&vm["server_active_at"]),
            text(&vm["power_off"]).as_str(),
        ) {
            (Some(off), Some(active), p) if !p.is_empty() && p != "already_off" => {
                Some(active - off)
            }
            _ => None,
        };
        if let Some(d) = downtime {
            longest = Some(longest.map_or(d, |l| l.max(d)));
        }
        out.insert(key("vm", &name, ""), name.clone());
        out.insert(key("status", &name, ""), text(&vm["status"]));
        out.insert(key("copied", &name, ""), gib(copied));
        out.insert(
            key("downtime", &name, ""),
            downtime.map_or("—".into(), |d| format!("{d:.1} s")),
        );
        out.insert(
            key("duration", &name, ""),
            num(&vm["seconds"]).map_or("—".into(), |d| format!("{d:.1} s")),
        );
        out.insert(key("flavor", &name, ""), dash(text(&vm["flavor"])));
        out.insert(
            key("server", &name, ""),
            dash(format!(
                "{} {}",
                text(&vm["server_id"]),
                text(&vm["server_status"])
            )),
        );
        if vm["status"] == "failed" {
            out.insert(key("error", &name, ""), dash(text(&vm["msg"])));
        }
        for d in &disks {
            let k = text(&d["key"]);
            out.insert(
                key("disk-copied", &name, &k),
                gib(num(&d["bytes_copied"]).unwrap_or(0.0)),
            );
            out.insert(
                key("disk-seconds", &name, &k),
                format!("{:.1} s", num(&d["seconds"]).unwrap_or(0.0)),
            );
            out.insert(
                key("disk-mib-per-s", &name, &k),
                format!("{:.1}", num(&d["mib_per_s"]).unwrap_or(0.0)),
            );
        }
    }
    out.insert(key("vms", "", ""), vms.len().to_string());
    out.insert(key("failed", "", ""), failed.to_string());
    out.insert(key("succeeded", "", ""), (vms.len() - failed).to_string());
    out.insert(key("copied", "", ""), gib(total));
    out.insert(
        key("longest-downtime", "", ""),
        longest.map_or("—".into(), |d| format!("{d:.1} s")),
    );
    out
}

#[test]
fn the_wave_report_renders_in_chromium_with_the_summary_figures() {
    let summary_file =
        std::env::var("VMKIT_REPORT_SUMMARY").map_or_else(|_| fixture(), PathBuf::from);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_file).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (wave, _, page) = wave_report::write(&summary_file, dir.path()).unwrap();
    // The report a playbook wrote, when given, instead of this one.
    let page = std::env::var("VMKIT_REPORT_HTML").map_or(page, PathBuf::from);
    if std::env::var("VMKIT_REPORT_SUMMARY").is_err() {
        assert_eq!(
            (wave.vms.len(), wave.failed()),
            (3, 1),
            "the fixture is a 3-VM wave with one failure"
        );
    }

    let shot = dir.path().join("report.png");
    chromium(&page, &[format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("chromium took no screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a blank or broken screenshot ({} bytes)",
        png.len()
    );

    let dom = String::from_utf8(chromium(&page, &["--dump-dom".into()])).unwrap();
    assert!(
        dom.contains("<h1>Migration wave report</h1>"),
        "chromium built no page: {dom}"
    );
    let shown = figures(&dom);
    let want = expected(&summary);
    assert_eq!(shown, want);
}
