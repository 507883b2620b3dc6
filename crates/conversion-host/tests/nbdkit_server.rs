//! nbdkit started for real: it serves the disk, no secret is on its command line or left on
//! disk, a failure carries its log, and nothing outlives the server.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use conversion_host::nbdkit::{
    CurlTls, HttpsSource, NbdkitError, NbdkitServer, SecretValue, ServerOptions, Source, StopWhen,
    VddkSource,
};

fn nbdinfo_size(uri: &str) -> u64 {
    let out = Command::new("nbdinfo")
        .args(["--size", uri])
        .output()
        .expect("nbdinfo (libnbd-bin) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn serves_a_file_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    let mut f = std::fs::File::create(&disk).unwrap();
    f.write_all(&vec![7u8; 3 * 1024 * 1024 + 512]).unwrap();
    drop(f);

    let server = NbdkitServer::start(
        &Source::File { path: disk.clone() },
        &ServerOptions::default(),
    )
    .expect("nbdkit starts");
    assert_eq!(nbdinfo_size(&server.uri()), 3 * 1024 * 1024 + 512);
    let copy = dir.path().join("copy.img");
    let status = Command::new("nbdcopy")
        .arg(server.uri())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&disk).unwrap());

    let pid = server.pid();
    let private_dir: PathBuf = server.socket().parent().unwrap().to_path_buf();
    drop(server);
    assert!(!alive(pid), "nbdkit {pid} still runs");
    assert!(!private_dir.exists(), "{} is left", private_dir.display());
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test reads a disk from the test bed's vSphere simulator. Run \
             `scripts/testbed up vsphere; eval \"$(scripts/testbed env)\"` first."
        )
    })
}

#[test]
fn testbed_https_source_keeps_the_cookie_off_the_command_line() {
    // The VDDK-free data path: the disk's flat file over the datastore's /folder URL.
    let host = required_env("VMKIT_TEST_VSPHERE_HOST");
    let datacenter = required_env("VMKIT_TEST_VSPHERE_DATACENTER");
    let datastores = required_env("VMKIT_TEST_DATASTORES");
    let datastore1 = datastores
        .split(',')
        .find_map(|kv| kv.strip_prefix("datastore1="))
        .expect("datastore1 in VMKIT_TEST_DATASTORES");
    let flat = Path::new(datastore1).join("lab-linux-bios/lab-linux-bios-flat.vmdk");
    let size = std::fs::metadata(&flat)
        .expect("the fixture disk exists")
        .len();

    let cookie = "vmware_soap_session=COOKIE-S3NTINEL-77";
    let server = NbdkitServer::start(
        &Source::Https(HttpsSource {
            url: format!(
                "https://{host}/folder/lab-linux-bios/lab-linux-bios-flat.vmdk?dcPath={datacenter}&dsName=datastore1"
            ),
            cookie: Some(SecretValue::new(cookie)),
            tls: CurlTls::Off,
        }),
        &ServerOptions::default(),
    )
    .expect("nbdkit curl starts");
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("cookie=+"), "{cmdline}");
    assert!(!cmdline.contains("S3NTINEL"), "{cmdline}");
    let private_dir = server.socket().parent().unwrap();
    assert!(
        !private_dir.join("cookie").exists(),
        "the cookie file is removed once nbdkit runs"
    );
    assert_eq!(nbdinfo_size(&server.uri()), size);

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.img");
    let status = Command::new("nbdcopy")
        .arg(server.uri())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        std::fs::read(&copy).unwrap() == std::fs::read(&flat).unwrap(),
        "bytes differ"
    );
}

#[test]
fn a_failed_start_reports_the_log_and_no_secret() {
    // No VDDK here: the vddk plugin is missing, as on a conversion host not yet prepared.
    let password = "VDDK-S3NTINEL-pw-55";
    let err = NbdkitServer::start(
        &Source::Vddk(VddkSource {
            server: "127.0.0.1".into(),
            port: None,
            user: "root".into(),
            password: SecretValue::new(password),
            thumbprint: "AA:BB".into(),
            libdir: "/nonexistent/vmware-vix-disklib".into(),
            vm_moref: "vm-1".into(),
            snapshot_moref: None,
            transports: None,
            compression: None,
            file: "[ds] vm/vm.vmdk".into(),
            config: Default::default(),
        }),
        &ServerOptions::default(),
    )
    .expect_err("nbdkit cannot load the vddk plugin here");
    let text = err.to_string();
    assert!(matches!(err, NbdkitError::Exited { .. }), "{text}");
    assert!(
        text.contains("vddk"),
        "the log tail names the problem: {text}"
    );
    assert!(!text.contains(password), "{text}");
}

#[test]
fn a_missing_nbdkit_is_said_plainly() {
    let err = NbdkitServer::start(
        &Source::File {
            path: "/dev/null".into(),
        },
        &ServerOptions {
            nbdkit: Path::new("/nonexistent/nbdkit").into(),
            ..ServerOptions::default()
        },
    )
    .expect_err("no such program");
    assert!(err.to_string().contains("is nbdkit installed"), "{err}");
}

#[test]
fn a_pinned_certificate_is_the_only_one_curl_accepts() {
    // curl is given a certificate that is not the simulator's (as when a machine in the middle
    // swapped it): it refuses the server, so the session cookie is never sent over that TLS.
    let host = required_env("VMKIT_TEST_VSPHERE_HOST");
    let datacenter = required_env("VMKIT_TEST_VSPHERE_DATACENTER");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let server = NbdkitServer::start(
        &Source::Https(HttpsSource {
            url: format!(
                "https://{host}/folder/lab-linux-bios/lab-linux-bios-flat.vmdk?dcPath={datacenter}&dsName=datastore1"
            ),
            cookie: Some(SecretValue::new("vmware_soap_session=COOKIE-S3NTINEL-88")),
            tls: CurlTls::Certificate(std::fs::read_to_string(&cert).unwrap()),
        }),
        &ServerOptions::default(),
    )
    .expect("nbdkit starts; curl connects when a client opens the export");
    let out = Command::new("nbdinfo")
        .arg("--size")
        .arg(server.uri())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the export opened over an unchecked certificate"
    );
    let log = std::fs::read_to_string(server.log()).unwrap();
    assert!(log.contains("certificate verification failed"), "{log}");
    assert!(!log.contains("S3NTINEL"), "{log}");
}

#[test]
fn a_stop_ends_the_wait_for_a_server_that_never_serves() {
    // An nbdkit that never listens, as the vddk plugin does while it logs in to a slow vCenter.
    let dir = tempfile::tempdir().unwrap();
    let never_ready = dir.path().join("nbdkit");
    let pid_file = dir.path().join("pid");
    std::fs::write(
        &never_ready,
        format!(
            "#!/bin/sh\necho $$ > {}\nexec sleep 600\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &never_ready,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = NbdkitServer::start(
        &Source::File {
            path: dir.path().join("disk.img"),
        },
        &ServerOptions {
            nbdkit: never_ready,
            ready_timeout: std::time::Duration::from_secs(30),
            stop: StopWhen::new(move || started.elapsed() > std::time::Duration::from_millis(300)),
            ..ServerOptions::default()
        },
    )
    .expect_err("stopped");
    assert!(matches!(err, NbdkitError::Stopped), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
    // The stand-in was killed with the server, not left sleeping.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !Path::new("/proc").join(pid.trim()).exists(),
        "the never-ready nbdkit ({}) still runs",
        pid.trim()
    );
}
