//! The migrate module, run as Ansible runs it, against the whole test bed: VMs made for each
//! test in the vSphere simulator (so fixtures other tests compare against never change), a real
//! Cinder and Nova, nbdkit, and the conversion host's volumes as loop devices over Cinder's files.
//! Every disk is checked bit for bit: the volume's first `capacity` bytes are the source's and the
//! rest reads as zero. Needs `scripts/testbed up; eval "$(scripts/testbed env)"`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use openstack::cinder::volumes;
use openstack::{Client, CloudArg, ConfigLoader};
use serde_json::{Value, json};
use testbed::vsphere::{HOW_TO_START, Simulator};

const MIB: u64 = 1 << 20;

/// Migrations attach volumes through Nova's one compute service: one test at a time.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{name} is not set; {HOW_TO_START}"),
    }
}

struct Bed {
    sim: Simulator,
    runtime: tokio::runtime::Runtime,
    cloud: Client,
    data: tempfile::TempDir,
    /// Volumes to delete when the test ends, however it ends.
    volume_names: Mutex<Vec<String>>,
    /// Volumes a test made itself, by id.
    planted: Mutex<Vec<String>>,
}

impl Bed {
    fn new() -> Bed {
        let sim = Simulator::from_env();
        assert!(!sim.host.is_empty(), "{HOW_TO_START}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = ConfigLoader::from_process()
            .load(Some(&CloudArg::Name(var("VMKIT_TEST_CLOUD"))))
            .unwrap_or_else(|e| panic!("{e}; {HOW_TO_START}"));
        let cloud = runtime.block_on(Client::connect(config)).unwrap();
        var("VMKIT_TEST_LOOP_VOLUME_DIR");
        Bed {
            sim,
            runtime,
            cloud,
            data: tempfile::tempdir().unwrap(),
            volume_names: Mutex::new(Vec::new()),
            planted: Mutex::new(Vec::new()),
        }
    }

    /// The module's data directory (`osmdatadir`); made by the module itself.
    fn osm(&self) -> PathBuf {
        self.data.path().join("osm")
    }

    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "-X", method, &format!("{}{path}", self.sim.control)]);
        if let Some(body) = body {
            curl.args(["-d", &body.to_string()]);
        }
        let out = curl.output().expect("curl");
        assert!(out.status.success(), "curl {path}: {out:?}");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{path}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// A VM of the fixture schema, named uniquely, in folder Runtime/Migrate.
    fn create_vm(&self, tag: &str, spec: Value) -> String {
        self.create_vm_named(&format!("mig-{tag}-{}", std::process::id()), spec)
    }

    fn create_vm_named(&self, name: &str, mut spec: Value) -> String {
        let name = name.to_owned();
        spec["name"] = json!(name);
        spec["folder"] = json!("Runtime/Migrate");
        let created = self.control("POST", "/vms/create", Some(&spec));
        assert_eq!(created["name"], json!(name), "{created}");
        name
    }

    /// `(device key, live file, capacity, change id)` per disk, in device order.
    fn live_disks(&self, vm: &str) -> Vec<(i64, PathBuf, u64, String)> {
        let vms = self.control("GET", "/vms", None);
        let found = vms
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == json!(vm))
            .unwrap_or_else(|| panic!("{vm} not in /vms"));
        found["disks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["device_key"].as_i64().unwrap(),
                    PathBuf::from(d["live_file"].as_str().unwrap()),
                    d["capacity_bytes"].as_u64().unwrap(),
                    d["change_id"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    fn snapshots(&self, vm: &str) -> Vec<Value> {
        self.control("GET", &format!("/snapshots?vm={vm}"), None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn write(&self, vm: &str, disk: usize, offset: u64, length: u64, seed: u64) {
        let out = self.control(
            "POST",
            "/write",
            Some(&json!({"vm": vm, "disk": disk, "offset": offset, "random": {"seed": seed, "length": length}})),
        );
        assert!(out.get("error").is_none(), "{out}");
    }

    fn args(&self, vm: &str, extra: Value) -> Value {
        let mut args = json!({
            "server": self.sim.host,
            "user": self.sim.user,
            "password": self.sim.password,
            "thumbprint": self.sim.thumbprint_sha256,
            "vmname": vm,
            "vddkpath": format!("/{}/vm/Runtime/Migrate", self.sim.datacenter),
            "dst_cloud": var("VMKIT_TEST_CLOUD"),
            "transport": "https",
            "skipconversion": true,
            "instanceuuid": var("VMKIT_TEST_CONVERSION_HOST_ID"),
            "osmdatadir": self.osm(),
            "assumezero": true,
            "poweroff_timeout": 5,
        });
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        let mut names = self.volume_names.lock().unwrap();
        names.push(vm.to_owned());
        args
    }

    fn volumes(&self, opts: volumes::ListOpts) -> Vec<volumes::Volume> {
        self.runtime
            .block_on(volumes::list(&self.cloud, &opts))
            .unwrap()
    }

    /// Every volume a migration of `vm` made.
    fn volumes_of(&self, vm: &str) -> Vec<volumes::Volume> {
        self.volumes(volumes::ListOpts {
            metadata: [("vmware_vm".to_owned(), vm.to_owned())].into(),
            ..Default::default()
        })
    }

    fn volumes_named(&self, name: &str) -> Vec<volumes::Volume> {
        self.volumes(volumes::ListOpts {
            name: Some(name.to_owned()),
            ..Default::default()
        })
    }

    fn power_state(&self, vm: &str) -> vsphere::vm::PowerState {
        self.runtime.block_on(async {
            let client = vsphere::Client::connect(&vsphere::ConnectOptions {
                server: self.sim.host.clone(),
                user: self.sim.user.clone(),
                password: vsphere::Password::new(&self.sim.password),
                tls: vsphere::TlsMode::Insecure,
            })
            .await
            .unwrap();
            let moref = vsphere::finder::find_by_name(&client, vm).await.unwrap();
            vsphere::power::power_state(&client, &moref).await.unwrap()
        })
    }

    /// A refused run touched nothing of `vm`: no snapshot, no volume, still powered on.
    fn assert_untouched(&self, vm: &str) {
        assert!(self.snapshots(vm).is_empty(), "a snapshot was taken");
        assert!(self.volumes_of(vm).is_empty(), "a volume was created");
        assert_eq!(
            self.power_state(vm),
            vsphere::vm::PowerState::PoweredOn,
            "the VM was powered off"
        );
    }

    /// A volume made by hand, as another VM's run or the original collection would leave it.
    fn plant_volume(&self, name: &str, metadata: &[(&str, &str)]) -> String {
        let opts = volumes::CreateOpts {
            name: name.to_owned(),
            size: 1,
            volume_type: None,
            availability_zone: None,
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            description: None,
        };
        let volume = self.runtime.block_on(async {
            let created = volumes::create(&self.cloud, &opts).await.unwrap();
            volumes::wait_status(
                &self.cloud,
                &created.id,
                "available",
                Duration::from_secs(120),
            )
            .await
            .unwrap()
        });
        self.planted.lock().unwrap().push(volume.id.clone());
        volume.id
    }

    /// No file the module made is readable by others, no directory other than 0700.
    fn assert_private_data(&self) {
        use std::os::unix::fs::MetadataExt;
        let mut pending = vec![self.osm()];
        let mut seen = 0;
        while let Some(dir) = pending.pop() {
            let meta = std::fs::symlink_metadata(&dir).unwrap();
            assert_eq!(meta.mode() & 0o7777, 0o700, "{}", dir.display());
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    pending.push(path);
                } else {
                    seen += 1;
                    assert_eq!(
                        meta.mode() & 0o077,
                        0,
                        "{} is readable by others",
                        path.display()
                    );
                }
            }
            assert!(seen < 10_000);
        }
        assert!(
            seen > 0,
            "the module wrote nothing under {}",
            self.osm().display()
        );
    }

    fn volume(&self, id: &str) -> volumes::Volume {
        self.runtime
            .block_on(volumes::get(&self.cloud, id))
            .unwrap()
    }

    /// The volume's first `capacity` bytes equal the source file's; the rest is zero.
    fn assert_bit_exact(&self, volume_id: &str, source: &Path, capacity: u64) {
        let volume_file =
            Path::new(&var("VMKIT_TEST_LOOP_VOLUME_DIR")).join(format!("volume-{volume_id}"));
        let mut target = std::fs::File::open(&volume_file).unwrap();
        let mut origin = std::fs::File::open(source).unwrap();
        let (mut a, mut b) = (vec![0u8; 4 * MIB as usize], vec![0u8; 4 * MIB as usize]);
        let mut offset = 0u64;
        while offset < capacity {
            let n = (capacity - offset).min(a.len() as u64) as usize;
            target.read_exact(&mut a[..n]).unwrap();
            origin.read_exact(&mut b[..n]).unwrap();
            if a[..n] != b[..n] {
                let at = a[..n]
                    .iter()
                    .zip(&b[..n])
                    .position(|(x, y)| x != y)
                    .unwrap();
                panic!(
                    "volume {volume_id} differs from {} at byte {}",
                    source.display(),
                    offset + at as u64
                );
            }
            offset += n as u64;
        }
        loop {
            let n = target.read(&mut a).unwrap();
            if n == 0 {
                break;
            }
            assert!(
                a[..n].iter().all(|&x| x == 0),
                "volume {volume_id}: non-zero bytes after the disk's end"
            );
        }
    }

    /// Nothing of ours is left: no snapshot, no attachment, no nbdkit of this run, no secret file.
    fn assert_clean(&self, vm: &str, result: &Value) {
        assert!(
            self.snapshots(vm).is_empty(),
            "{vm}: snapshots left: {:?}",
            self.snapshots(vm)
        );
        for id in result["id"].as_array().into_iter().flatten() {
            let volume = self.volume(id.as_str().unwrap());
            assert!(
                volume.attachments.is_empty(),
                "volume {} still attached",
                volume.id
            );
            assert_eq!(volume.status, "available");
        }
        let leftovers: Vec<String> = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("vmkit-nbdkit-")
            })
            // Only a finished run's files are left over: the directory's name carries the pid
            // of the vmkit that made it, and migrations of tests beside this one still run.
            .filter(|p| !maker_is_running(p))
            .filter(|p| {
                ["password", "cookie", "vddk.conf"]
                    .iter()
                    .any(|f| p.join(f).exists())
            })
            .map(|p| p.display().to_string())
            .collect();
        assert!(leftovers.is_empty(), "secret files left: {leftovers:?}");
        for pid in nbdkit_pids() {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            assert!(
                !cmdline.contains(&format!("/{vm}/")),
                "nbdkit of {vm} still runs: {cmdline}"
            );
        }
    }
}

/// Whether the process named in a `vmkit-nbdkit-<pid>-<random>` directory still runs.
fn maker_is_running(dir: &std::path::Path) -> bool {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let pid = name
        .trim_start_matches("vmkit-nbdkit-")
        .split('-')
        .next()
        .unwrap_or_default()
        .to_owned();
    !pid.is_empty() && std::path::Path::new("/proc").join(pid).exists()
}

impl Drop for Bed {
    fn drop(&mut self) {
        let planted = std::mem::take(&mut *self.planted.lock().unwrap_or_else(|p| p.into_inner()));
        for id in planted {
            let _ = self.runtime.block_on(volumes::delete(&self.cloud, &id));
        }
        let names =
            std::mem::take(&mut *self.volume_names.lock().unwrap_or_else(|p| p.into_inner()));
        for vm in names {
            let opts = volumes::ListOpts {
                metadata: [("vmware_vm".to_owned(), vm.clone())].into(),
                ..Default::default()
            };
            let Ok(found) = self.runtime.block_on(volumes::list(&self.cloud, &opts)) else {
                continue;
            };
            for volume in found {
                let _ = self
                    .runtime
                    .block_on(volumes::delete(&self.cloud, &volume.id));
            }
        }
    }
}

fn nbdkit_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "nbdkit")
        })
        .collect()
}

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vmkit"))
}

fn module_command(args: &Value, dir: &Path) -> Command {
    let program = dir.join("AnsiballZ_migrate");
    if !program.exists() {
        std::os::unix::fs::symlink(exe(), &program).unwrap();
    }
    let args_file = dir.join(format!("args-{}.json", rand_suffix()));
    std::fs::write(&args_file, args.to_string()).unwrap();
    let mut command = Command::new(program);
    command.arg(args_file);
    command
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn parse(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {stdout:?}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn migrate(bed: &Bed, args: &Value) -> Value {
    let out = module_command(args, bed.data.path()).output().unwrap();
    let result = parse(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains(&bed.sim.password) && !result.to_string().contains(&bed.sim.password),
        "the password leaked"
    );
    result
}

fn migrate_ok(bed: &Bed, args: &Value) -> Value {
    let result = migrate(bed, args);
    assert_eq!(result["failed"], json!(false), "{result:#}");
    result
}

fn disk(size: u64, controller: &str, content: Value) -> Value {
    json!({"size_bytes": size, "controller": controller, "datastore": "datastore1", "content": content})
}

fn vm_spec(firmware: &str, power: &str, cbt: bool, disks: Vec<Value>) -> Value {
    json!({
        "guest_id": "rhel9_64Guest",
        "firmware": firmware,
        "cpu": {"sockets": 1, "cores_per_socket": 2},
        "memory_mib": 2048,
        "power": power,
        "cbt": cbt,
        "disks": disks,
        "nics": [],
    })
}

fn check_cold_result(bed: &Bed, vm: &str, result: &Value) {
    let live = bed.live_disks(vm);
    let ids = result["id"].as_array().unwrap();
    assert_eq!(ids.len(), live.len(), "{result:#}");
    for ((key, file, capacity, _), id) in live.iter().zip(ids) {
        let id = id.as_str().unwrap();
        bed.assert_bit_exact(id, file, *capacity);
        let volume = bed.volume(id);
        assert_eq!(volume.metadata["converted"], "true");
        assert_eq!(volume.metadata["copy_state"], "complete");
        assert_eq!(volume.metadata["vmware_disk_key"], key.to_string());
        assert_eq!(volume.size, capacity.div_ceil(1 << 30), "size rounded up");
    }
}

#[test]
fn cold_migration_over_https_is_bit_exact_for_every_kind_of_disk_and_a_rerun_changes_nothing() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "cold",
        vm_spec(
            "efi",
            "on",
            false,
            vec![
                disk(48 * MIB + 4096, "pvscsi", json!({"kind": "random", "seed": 11})),
                disk(96 * MIB + 65536, "sata", json!({"kind": "sparse_random", "seed": 12, "percent": 20})),
                disk(32 * MIB + 1024, "nvme", json!({"kind": "zeros"})),
                disk(8 * MIB, "lsilogic", json!({"kind": "text", "writes": [{"offset": 4096, "text": "boot"}, {"offset": 7340032, "text": "end"}]})),
            ],
        ),
    );
    let check = migrate_ok(&bed, &bed.args(&vm, json!({"disk_parallelism": 3})));
    assert_eq!(check["changed"], json!(true));
    assert_eq!(check["phase"], json!("cold"));
    assert_ne!(
        check["power_off"],
        json!("already_off"),
        "a running VM is powered off first"
    );
    assert_eq!(
        check["converted"],
        json!(true),
        "skipconversion still marks the volumes final"
    );
    check_cold_result(&bed, &vm, &check);
    let boot = bed.volume(check["id"][0].as_str().unwrap());
    assert!(boot.bootable);
    assert_eq!(
        boot.volume_image_metadata
            .get("hw_firmware_type")
            .map(String::as_str),
        Some("uefi")
    );
    assert_eq!(
        boot.volume_image_metadata
            .get("hw_machine_type")
            .map(String::as_str),
        Some("q35")
    );
    bed.assert_clean(&vm, &check);
    // The progress file has per-disk lines and the summary.
    let progress = std::fs::read_to_string(check["progress_file"].as_str().unwrap()).unwrap();
    assert!(
        progress.lines().any(|l| l.contains("\"phase\":\"done\"")),
        "{progress}"
    );
    assert!(
        progress.lines().last().unwrap().contains("\"summary\""),
        "{progress}"
    );
    // Each line has the status to show: the steps before the copy, the copy, the outcome once.
    let statuses: Vec<String> = progress
        .lines()
        .map(|l| {
            let line: Value = serde_json::from_str(l).unwrap();
            line["status"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert!(
        statuses.iter().all(|s| s.starts_with(&format!("{vm}: "))),
        "{statuses:#?}"
    );
    for shown in [
        ": power-off: shutting the guest down",
        ": snapshot: ",
        ": copy: disk ",
    ] {
        assert!(
            statuses.iter().any(|s| s.contains(shown)),
            "no {shown:?} in {statuses:#?}"
        );
    }
    let last = statuses.last().unwrap();
    assert!(
        last.contains(": migration done: 4 disk(s), ")
            && last.ends_with("; next: ports and server"),
        "{last}"
    );
    assert_eq!(
        statuses.iter().filter(|s| s.contains(" done: ")).count(),
        1,
        "{statuses:#?}"
    );
    // The timeline: power-off, snapshot, a volume and a copy step per disk, each ended, in order.
    let timeline = check["timeline"].as_array().unwrap();
    let steps: Vec<&str> = timeline
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(&steps[..2], ["power_off", "snapshot"], "{timeline:#?}");
    for step in ["volume", "copy"] {
        assert_eq!(
            steps.iter().filter(|s| **s == step).count(),
            4,
            "{timeline:#?}"
        );
    }
    assert!(
        steps.contains(&"snapshot_removal") && steps.contains(&"finalize"),
        "{steps:?}"
    );
    assert!(
        timeline.iter().all(|s| s["ended"]
            .as_str()
            .is_some_and(|e| e >= s["started"].as_str().unwrap())),
        "{timeline:#?}"
    );
    assert!(
        timeline[0]["ended"].as_str() <= timeline[1]["started"].as_str(),
        "{timeline:#?}"
    );

    let again = migrate_ok(&bed, &bed.args(&vm, json!({})));
    assert_eq!(again["changed"], json!(false), "{again:#}");
    assert_eq!(again["id"], check["id"]);
    bed.assert_clean(&vm, &again);
}

#[test]
fn cold_migration_from_the_mounted_datastore_is_bit_exact() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "file",
        vm_spec(
            "bios",
            "off",
            false,
            vec![
                disk(
                    24 * MIB + 512 * 2,
                    "pvscsi",
                    json!({"kind": "random", "seed": 21}),
                ),
                disk(
                    16 * MIB,
                    "ide",
                    json!({"kind": "sparse_random", "seed": 22, "percent": 50}),
                ),
            ],
        ),
    );
    let datastores = var("VMKIT_TEST_DATASTORES");
    let first_dir = datastores
        .split(',')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    let root = Path::new(first_dir).parent().unwrap();
    let result = migrate_ok(
        &bed,
        &bed.args(&vm, json!({"transport": "file", "localdiskpath": root})),
    );
    assert_eq!(result["power_off"], json!("already_off"));
    check_cold_result(&bed, &vm, &result);
    bed.assert_clean(&vm, &result);
}

#[test]
fn check_mode_reports_the_plan_and_changes_nothing() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "check",
        vm_spec(
            "bios",
            "on",
            true,
            vec![disk(
                4 * MIB,
                "pvscsi",
                json!({"kind": "random", "seed": 31}),
            )],
        ),
    );
    let mut args = bed.args(&vm, json!({}));
    args["_ansible_check_mode"] = json!(true);
    let result = migrate_ok(&bed, &args);
    assert_eq!(result["changed"], json!(true));
    assert_eq!(result["disks"][0]["mode"], json!("full"));
    assert_eq!(result["disks"][0]["volume_id"], Value::Null);
    assert!(bed.snapshots(&vm).is_empty());
    let found = bed.volumes_named(&format!("{vm}-2000"));
    assert!(found.is_empty(), "check mode created a volume");
    // Still running: check mode powered nothing off.
    let power = bed.power_state(&vm);
    assert_eq!(power, vsphere::vm::PowerState::PoweredOn);
}

#[test]
fn warm_rounds_copy_only_what_changed_and_the_cutover_loses_no_write() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "warm",
        vm_spec(
            "bios",
            "on",
            true,
            vec![
                disk(64 * MIB, "pvscsi", json!({"kind": "random", "seed": 41})),
                disk(
                    32 * MIB + 65536,
                    "pvscsi",
                    json!({"kind": "sparse_random", "seed": 42, "percent": 30}),
                ),
            ],
        ),
    );
    let sync = bed.args(&vm, json!({"cbtsync": true}));
    let first = migrate_ok(&bed, &sync);
    assert_eq!(first["phase"], json!("warm_sync"));
    assert_eq!(
        first["power_off"],
        Value::Null,
        "a sync leaves the VM running"
    );
    assert_eq!(first["converted"], json!(false));
    let ids: Vec<String> = first["id"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let check_round = |result: &Value| {
        for ((_, file, capacity, change_id), id) in bed.live_disks(&vm).iter().zip(&ids) {
            bed.assert_bit_exact(id, file, *capacity);
            let volume = bed.volume(id);
            assert_eq!(
                &volume.metadata["changeID"], change_id,
                "the stored changeID names the last snapshot"
            );
            assert_eq!(volume.metadata["copy_state"], "complete");
        }
        bed.assert_clean(&vm, result);
    };
    check_round(&first);

    // The guest writes 3 areas of 256 KiB on disk 0 and one on disk 1 between rounds.
    let written = [
        (0usize, MIB),
        (0, 20 * MIB + 8192),
        (0, 63 * MIB),
        (1, 5 * MIB),
    ];
    for (i, (disk_index, offset)) in written.iter().enumerate() {
        bed.write(&vm, *disk_index, *offset, 256 * 1024, 100 + i as u64);
    }
    let second = migrate_ok(&bed, &sync);
    assert_eq!(second["disks"][0]["mode"], json!("delta"), "{second:#}");
    let copied: u64 = second["disks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["bytes_copied"].as_u64().unwrap())
        .sum();
    let written_bytes = 4 * 256 * 1024;
    assert!(
        copied >= written_bytes && copied <= written_bytes + 8 * 65536,
        "a delta copies about what was written ({written_bytes}), not the disk: {copied}"
    );
    check_round(&second);

    // A write racing the snapshot call is in that snapshot; one racing its removal is after it.
    for (method, seed) in [("CreateSnapshot_Task", 201), ("RemoveSnapshot_Task", 202)] {
        bed.control(
            "POST",
            "/hooks",
            Some(&json!({"method": method, "vm": vm, "write": {"vm": vm, "disk": 0, "offset": (seed - 190) * MIB, "random": {"seed": seed, "length": 65536}}})),
        );
    }
    let third = migrate_ok(&bed, &sync);
    let hooks = bed.control("GET", "/hooks", None);
    assert!(
        hooks
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["vm"] == json!(vm))
            .all(|h| h["fired"] == json!(true)),
        "{hooks}"
    );
    bed.assert_clean(&vm, &third);

    let cutover = migrate_ok(
        &bed,
        &bed.args(&vm, json!({"cbtsync": true, "cutover": true})),
    );
    assert_eq!(cutover["phase"], json!("cutover"));
    assert_ne!(cutover["power_off"], json!("already_off"));
    assert_eq!(cutover["converted"], json!(true));
    assert_eq!(cutover["id"], first["id"], "the same volumes all along");
    // The write after the third round's snapshot reached the volume at the cutover.
    for ((_, file, capacity, change_id), id) in bed.live_disks(&vm).iter().zip(&ids) {
        bed.assert_bit_exact(id, file, *capacity);
        let volume = bed.volume(id);
        assert_eq!(&volume.metadata["changeID"], change_id);
        assert_eq!(volume.metadata["converted"], "true");
    }
    bed.assert_clean(&vm, &cutover);
    let again = migrate_ok(
        &bed,
        &bed.args(&vm, json!({"cbtsync": true, "cutover": true})),
    );
    assert_eq!(again["changed"], json!(false), "{again:#}");
}

#[test]
fn a_warm_migration_of_a_vm_with_an_independent_disk_is_refused_before_anything_changes() {
    let _turn = turn();
    let bed = Bed::new();
    let mut independent = disk(2 * MIB, "pvscsi", json!({"kind": "random", "seed": 51}));
    independent["mode"] = json!("independent_persistent");
    let vm = bed.create_vm(
        "indep",
        vm_spec(
            "bios",
            "on",
            true,
            vec![
                disk(2 * MIB, "pvscsi", json!({"kind": "zeros"})),
                independent,
            ],
        ),
    );
    let result = migrate(&bed, &bed.args(&vm, json!({"cbtsync": true})));
    assert_eq!(result["failed"], json!(true));
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("independent disks") && msg.contains("cold"),
        "{msg}"
    );
    assert!(bed.snapshots(&vm).is_empty());
    let found = bed.volumes_of(&vm);
    assert!(found.is_empty());
    assert!(
        !bed.osm().exists() && result.get("log_file").is_none(),
        "a refused run made files: {result:#}"
    );
}

/// Starts the module and waits until the progress file says `needle`; returns the child.
fn start_and_wait_for(bed: &Bed, args: &Value, progress: &Path, needle: &str) -> Child {
    let mut child = module_command(args, bed.data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(progress).unwrap_or_default();
        if text.contains(needle) {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the module ended ({status}) before {needle:?}: {text}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no {needle:?} in {text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn killed_or_cancelled_mid_copy_then_rerun_gives_a_bit_exact_volume_and_no_duplicate() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "kill",
        vm_spec(
            "bios",
            "off",
            false,
            vec![disk(
                256 * MIB,
                "pvscsi",
                json!({"kind": "random", "seed": 61}),
            )],
        ),
    );
    let progress = bed.data.path().join("kill-progress.jsonl");
    // assumezero off: the copy writes every byte, so it lasts long enough to be interrupted.
    let args = bed.args(&vm, json!({"progress_file": progress, "assumezero": false}));

    // SIGTERM (an AAP cancel): the module cleans up and says so.
    let child = start_and_wait_for(&bed, &args, &progress, "\"copy_start\"");
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let result = parse(&out);
    assert_eq!(
        result["failed"],
        json!(true),
        "SIGTERM came too late: {result:#}"
    );
    {
        assert!(
            result["msg"].as_str().unwrap().contains("signal"),
            "{result:#}"
        );
        let log = std::fs::read_to_string(result["log_file"].as_str().unwrap()).unwrap();
        assert!(log.contains("cleanup: detached volume"), "{log}");
        assert!(log.contains("cleanup: removed snapshot"), "{log}");
    }
    assert!(bed.snapshots(&vm).is_empty(), "SIGTERM left the snapshot");

    // SIGKILL: nothing runs; the next run finds and removes what was left.
    let _ = std::fs::remove_file(&progress);
    let mut child = start_and_wait_for(&bed, &args, &progress, "\"copy_start\"");
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();

    let result = migrate_ok(&bed, &args);
    assert_eq!(result["changed"], json!(true));
    check_cold_result(&bed, &vm, &result);
    bed.assert_clean(&vm, &result);
    let all = bed.volumes_named(&format!("{vm}-2000"));
    assert_eq!(all.len(), 1, "one volume per disk, whatever happened");
}

/// The conversion host as the test bed makes it for the vddk transport: nbdkit's real vddk plugin
/// and the fake VixDiskLib of nbdkit's tests, extended to serve the simulator's datastore files and
/// to record what it was given (both built by tests/vddk/build). A `nbdkit` first on PATH records
/// its arguments and environment, then runs the machine's nbdkit with the plugin's path in place
/// of `vddk`: the plugin is nowhere nbdkit looks by itself. libdir is private to the test.
struct VddkHost {
    path: String,
    libdir: PathBuf,
    /// Each nbdkit start's arguments, one per line, then `----`.
    argv: PathBuf,
    environ: PathBuf,
    /// What VixDiskLib was given, `key=value` lines (tests/vddk/fake_vixdisklib.c).
    record: PathBuf,
}

impl VddkHost {
    fn new(bed: &Bed) -> VddkHost {
        let built = |name: &str| match std::env::var(name) {
            Ok(v) if !v.is_empty() => v,
            _ => panic!(
                "{name} is not set: the vddk plugin is not built; run `scripts/testbed up nbd` \
                 (tests/vddk/build) and `eval \"$(scripts/testbed env)\"`"
            ),
        };
        let plugin = built("VMKIT_TEST_VDDK_PLUGIN");
        let fake = built("VMKIT_TEST_VDDK_FAKE_LIBRARY");
        let root = bed.data.path().join("vddk-host");
        let bin = root.join("bin");
        let libdir = root.join("vmware-vix-disklib");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(libdir.join("lib64")).unwrap();
        std::os::unix::fs::symlink(&fake, libdir.join("lib64/libvixDiskLib.so.6")).unwrap();
        let datastores = Path::new(
            var("VMKIT_TEST_DATASTORES")
                .split(',')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1,
        )
        .parent()
        .unwrap()
        .to_owned();
        let record = root.join("vixdisklib-record");
        std::fs::write(
            libdir.join("fake-vddk.conf"),
            format!(
                "datastores={}\nrecord={}\n",
                datastores.display(),
                record.display()
            ),
        )
        .unwrap();
        let nbdkit = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join("nbdkit"))
            .find(|p| p.is_file())
            .expect("nbdkit on PATH");
        let (argv, environ) = (root.join("nbdkit-argv"), root.join("nbdkit-environ"));
        let wrapper = bin.join("nbdkit");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" ---- >> '{argv}'\nenv > '{environ}'\n\
                 for a do shift; if [ \"$a\" = vddk ]; then set -- \"$@\" '{plugin}'; else set -- \"$@\" \"$a\"; fi; done\n\
                 exec '{nbdkit}' \"$@\"\n",
                argv = argv.display(),
                environ = environ.display(),
                nbdkit = nbdkit.display(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        VddkHost {
            path: format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            libdir,
            argv,
            environ,
            record,
        }
    }

    fn migrate(&self, bed: &Bed, args: &Value) -> (Value, String) {
        let out = module_command(args, bed.data.path())
            .env("PATH", &self.path)
            .env("OS_PASSWORD", "os-password-in-env")
            .env("VMKIT_VSPHERE_PASSWORD", "vsphere-password-in-env")
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(&bed.sim.password), "the password leaked");
        (parse(&out), text)
    }

    /// The distinct values VixDiskLib was given for `key`.
    fn received(&self, key: &str) -> std::collections::BTreeSet<String> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
            .collect()
    }

    /// The arguments of each nbdkit start, in order.
    fn starts(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(&self.argv).unwrap_or_default();
        text.split("----\n")
            .filter(|s| !s.is_empty())
            .map(|s| s.lines().map(str::to_owned).collect())
            .collect()
    }
}

fn set(values: &[&str]) -> std::collections::BTreeSet<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[test]
fn a_running_vm_migrates_over_vddk_through_the_real_plugin_bit_exact() {
    let _turn = turn();
    let bed = Bed::new();
    let host = VddkHost::new(&bed);
    let vm = bed.create_vm(
        "vddk",
        vm_spec(
            "bios",
            "on",
            true,
            vec![
                disk(8 * MIB, "pvscsi", json!({"kind": "random", "seed": 71})),
                disk(
                    4 * MIB,
                    "pvscsi",
                    json!({"kind": "sparse_random", "seed": 72, "percent": 30}),
                ),
            ],
        ),
    );
    let args = bed.args(
        &vm,
        json!({
            "transport": "vddk",
            "libdir": host.libdir,
            "transports": "nbdssl:nbd",
            "cbtsync": true,
            "vddk_config": {
                "vixDiskLib.nfcAio.Session.BufSizeIn64KB": 16,
                "vixDiskLib.nfcAio.Session.BufCount": "4",
            },
        }),
    );
    let (result, output) = host.migrate(&bed, &args);
    assert_eq!(result["failed"], json!(false), "{result:#}");
    assert_eq!(result["power_off"], Value::Null, "the VM kept running");
    let ids = result["id"].as_array().unwrap();
    let live = bed.live_disks(&vm);
    assert_eq!(ids.len(), live.len(), "{result:#}");
    for ((_, file, capacity, _), id) in live.iter().zip(ids) {
        bed.assert_bit_exact(id.as_str().unwrap(), file, *capacity);
    }

    // What VDDK was given through the real plugin: the certificate our SOAP client verified (the
    // test pins its SHA-256; VDDK takes SHA-1), the server and port apart, the VM and the snapshot.
    let (server, port) = bed.sim.host.rsplit_once(':').unwrap();
    assert_eq!(
        host.received("thumbprint"),
        set(&[&bed.sim.thumbprint_sha1])
    );
    assert_eq!(host.received("server"), set(&[server]));
    assert_eq!(host.received("port"), set(&[port]));
    assert_eq!(host.received("user"), set(&[&bed.sim.user]));
    assert_eq!(host.received("password"), set(&[&bed.sim.password]));
    let moref = format!("moref={}", result["vm"].as_str().unwrap());
    assert_eq!(host.received("vmx_spec"), set(&[&moref]));
    let snapshots = host.received("snapshot");
    assert!(
        snapshots.len() == 1 && snapshots.iter().all(|s| s.starts_with("snapshot-")),
        "one snapshot for every disk: {snapshots:?}"
    );
    assert_eq!(host.received("read_only"), set(&["1"]));
    assert_eq!(host.received("transport_modes"), set(&["nbdssl:nbd"]));
    assert_eq!(host.received("open").len(), live.len());
    // The copy's block-status queries reached VixDiskLib as extents queries, beyond the plugin's
    // own first test of one 128-sector chunk.
    let extents = host.received("extents");
    assert!(
        extents
            .iter()
            .any(|e| e.split_once('+').is_some_and(|(_, n)| n != "128")),
        "{extents:?}"
    );
    assert_eq!(
        host.received("lib_dir"),
        set(&[host.libdir.to_str().unwrap()])
    );
    // vddk_config reached VDDK as its file, and only so.
    assert_eq!(
        host.received("config"),
        set(&[
            "vixDiskLib.nfcAio.Session.BufCount=4",
            "vixDiskLib.nfcAio.Session.BufSizeIn64KB=16"
        ])
    );
    // The probe starts VDDK too (nbdkit ≥ 1.34), with no file.
    let config_files: std::collections::BTreeSet<String> = host
        .received("config_file")
        .into_iter()
        .filter(|f| !f.is_empty())
        .collect();
    assert_eq!(config_files.len(), live.len(), "one file per nbdkit");
    for file in &config_files {
        assert!(!Path::new(file).exists(), "{file} is left");
    }

    // nbdkit: first the pre-flight (nbdkit's configuration, then the vddk plugin's probe), then
    // one start per disk with exactly our arguments.
    let starts = host.starts();
    assert_eq!(starts[0], ["--dump-config"], "{starts:?}");
    assert_eq!(
        starts[1],
        [
            "vddk",
            "--dump-plugin",
            &format!("libdir={}", host.libdir.display())
        ],
        "{starts:?}"
    );
    assert_eq!(starts.len(), 2 + live.len(), "{starts:?}");
    for argv in &starts[2..] {
        let config = argv
            .iter()
            .find_map(|a| a.strip_prefix("config="))
            .expect("config=");
        assert!(config_files.contains(config), "{argv:?}");
        for expected in [
            "--readonly".to_owned(),
            "vddk".to_owned(),
            format!("server={server}"),
            format!("port={port}"),
            format!("thumbprint={}", bed.sim.thumbprint_sha1),
            format!("libdir={}", host.libdir.display()),
            moref.replace("moref=", "vm=moref="),
            "transports=nbdssl:nbd".to_owned(),
            "compression=fastlz".to_owned(),
        ] {
            assert!(argv.contains(&expected), "{expected} missing from {argv:?}");
        }
        assert!(
            argv.iter().any(|a| a.starts_with("password=+/")),
            "{argv:?}"
        );
    }
    let argv = std::fs::read_to_string(&host.argv).unwrap();
    let mut logs = output.clone();
    for entry in walk(&bed.osm()) {
        logs.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
    }
    for text in [&argv, &logs] {
        assert!(!text.contains(&bed.sim.password), "the password is shown");
        assert!(
            !text.contains("BufSizeIn64KB=16"),
            "vddk_config is shown: {text}"
        );
    }
    let environ = std::fs::read_to_string(&host.environ).unwrap();
    assert!(
        !environ.contains("password-in-env") && !environ.contains(&bed.sim.password),
        "nbdkit got our credentials: {environ}"
    );
    assert!(environ.contains("LC_ALL=C"), "{environ}");
    bed.assert_clean(&vm, &result);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_wrong_vcenter_thumbprint_is_refused_before_anything_changes() {
    let _turn = turn();
    let bed = Bed::new();
    let host = VddkHost::new(&bed);
    let vm = bed.create_vm(
        "vddk-pin",
        vm_spec(
            "bios",
            "on",
            true,
            vec![disk(MIB, "pvscsi", json!({"kind": "random", "seed": 73}))],
        ),
    );
    let wrong = "12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78";
    let args = bed.args(
        &vm,
        json!({"transport": "vddk", "libdir": host.libdir, "thumbprint": wrong}),
    );
    let (result, _) = host.migrate(&bed, &args);
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("vcenter_thumbprint"), "{msg}");
    assert!(msg.contains(wrong), "the pin is named: {msg}");
    bed.assert_untouched(&vm);
    assert!(host.starts().is_empty(), "nbdkit ran: {:?}", host.starts());
}

#[test]
fn a_conversion_host_without_the_plugin_or_vddk_is_refused_before_anything_changes() {
    let _turn = turn();
    let bed = Bed::new();
    let host = VddkHost::new(&bed);
    let vm = bed.create_vm(
        "vddk-pre",
        vm_spec(
            "bios",
            "on",
            true,
            vec![disk(MIB, "pvscsi", json!({"kind": "random", "seed": 74}))],
        ),
    );
    // The plugin, but no VDDK in libdir.
    let empty = bed.data.path().join("no-vddk");
    std::fs::create_dir_all(&empty).unwrap();
    let (result, _) = host.migrate(
        &bed,
        &bed.args(&vm, json!({"transport": "vddk", "libdir": empty})),
    );
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("no VDDK library") && msg.contains("'libdir'"),
        "{msg}"
    );
    bed.assert_untouched(&vm);
    // The machine's own nbdkit: Debian ships no vddk plugin.
    let out = module_command(
        &bed.args(&vm, json!({"transport": "vddk", "libdir": host.libdir})),
        bed.data.path(),
    )
    .output()
    .unwrap();
    let result = parse(&out);
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("vddk plugin does not load") && msg.contains("transport https"),
        "{msg}"
    );
    bed.assert_untouched(&vm);
    assert!(!host.record.exists(), "VDDK was reached");
}

#[test]
fn vmkit_migrate_is_the_module_on_the_command_line() {
    let bed = Bed::new();
    let vm = bed.create_vm(
        "cli",
        vm_spec(
            "bios",
            "off",
            false,
            vec![disk(MIB, "pvscsi", json!({"kind": "random", "seed": 81}))],
        ),
    );
    let out = Command::new(exe())
        .args([
            "migrate",
            "--server",
            &bed.sim.host,
            "--user",
            &bed.sim.user,
            "--vm",
            &vm,
        ])
        .args([
            "--cloud",
            &var("VMKIT_TEST_CLOUD"),
            "--transport",
            "https",
            "--skip-conversion",
            "--check",
        ])
        .args(["--set", "vmware_insecure=yes"])
        .env("VMKIT_VSPHERE_PASSWORD", &bed.sim.password)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let result = parse(&out);
    assert_eq!(result["disks"][0]["mode"], json!("full"), "{result:#}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&bed.sim.password));
    let no_password = Command::new(exe())
        .args([
            "migrate",
            "--server",
            &bed.sim.host,
            "--user",
            &bed.sim.user,
            "--vm",
            &vm,
        ])
        .env_remove("VMKIT_VSPHERE_PASSWORD")
        .output()
        .unwrap();
    assert!(!no_password.status.success());
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("VMKIT_VSPHERE_PASSWORD"));
}

#[test]
fn a_conversion_without_virt_v2v_in_place_fails_before_anything_changes() {
    let bed = Bed::new();
    let vm = bed.create_vm(
        "noconv",
        vm_spec(
            "bios",
            "on",
            false,
            vec![disk(MIB, "pvscsi", json!({"kind": "random", "seed": 91}))],
        ),
    );
    let empty_path = tempfile::tempdir().unwrap();
    let args = bed.args(&vm, json!({"skipconversion": false}));
    let out = module_command(&args, bed.data.path())
        .env("PATH", empty_path.path())
        .output()
        .unwrap();
    let result = parse(&out);
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("virt-v2v-in-place is not installed") && msg.contains("skipconversion"),
        "{msg}"
    );
    bed.assert_untouched(&vm);
}

#[test]
fn the_guest_is_converted_in_place_on_the_attached_volumes() {
    let _turn = turn();
    let bed = Bed::new();
    let mut spec = vm_spec(
        "bios",
        "on",
        false,
        vec![
            disk(2 * MIB, "pvscsi", json!({"kind": "random", "seed": 101})),
            disk(MIB, "sata", json!({"kind": "random", "seed": 102})),
        ],
    );
    spec["nics"] = json!([{"adapter": "vmxnet3", "portgroup": "VM Network",
        "mac": "00:50:56:3F:00:01", "ips": ["192.0.2.44/24"]}]);
    let vm = bed.create_vm("conv", spec);
    let bin = bed.data.path().join("v2v-bin");
    let record = bed.data.path().join("v2v-record");
    stand_in_conversion_tools(&bin, &record, true);
    let script = bed.data.path().join("firstboot.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let args = bed.args(
        &vm,
        json!({"skipconversion": false, "multidiskfs": true, "bootscript": script, "extraopts": "--key 'ALL:file:/a b' -v"}),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = module_command(&args, bed.data.path())
        .env("PATH", path)
        .output()
        .unwrap();
    let result = parse(&out);
    assert_eq!(result["failed"], json!(false), "{result:#}");
    assert_eq!(result["conversion_ran"], json!(true));
    let argv = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = argv.lines().collect();
    assert_eq!(
        lines,
        [
            "--run",
            lines[1],
            "--firstboot",
            script.to_str().unwrap(),
            "--key",
            "ALL:file:/a b",
            "-v",
            "-i",
            "libvirtxml",
            lines[9],
            "LIBGUESTFS_BACKEND=direct"
        ],
        "{argv}"
    );
    // The guest keeps its interface name: our script, with the MAC and the address the guest
    // reported when the run began, went in first; it is removed afterwards.
    let network = std::fs::read_to_string(format!("{}.run", record.display())).unwrap();
    assert!(
        network.ends_with("\nkeep_nic_names '/' 00:50:56:3f:00:01=192.0.2.44\n"),
        "{network}"
    );
    assert!(!Path::new(lines[1]).exists(), "{}", lines[1]);
    let xml = std::fs::read_to_string(format!("{}.xml", record.display())).unwrap();
    assert!(
        xml.contains("bus='scsi'") && xml.contains("bus='sata'"),
        "{xml}"
    );
    for id in result["id"].as_array().unwrap() {
        let id = id.as_str().unwrap();
        let file = Path::new(&var("VMKIT_TEST_LOOP_VOLUME_DIR")).join(format!("volume-{id}"));
        let mut head = [0u8; 9];
        std::fs::File::open(file)
            .unwrap()
            .read_exact(&mut head)
            .unwrap();
        assert_eq!(
            &head, b"converted",
            "virt-v2v-in-place did not see volume {id}"
        );
        let volume = bed.volume(id);
        assert_eq!(volume.metadata["converted"], "true");
        assert_eq!(volume.metadata["guest_converted"], "true");
    }
    let boot = bed.volume(result["id"][0].as_str().unwrap());
    assert_eq!(
        boot.volume_image_metadata
            .get("hw_disk_bus")
            .map(String::as_str),
        Some("virtio")
    );
    bed.assert_clean(&vm, &result);
}

/// A directory holding an `nbdkit` that runs the real one with the `delay` filter outermost:
/// every read sleeps an hour, a source stalled forever.
fn stalled_nbdkit(bed: &Bed) -> String {
    nbdkit_with_filter(bed, "delay", "rdelay=3600")
}

/// A `PATH` whose `nbdkit` runs the real one with `filter` (and its `param`) outermost.
fn nbdkit_with_filter(bed: &Bed, filter: &str, param: &str) -> String {
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v nbdkit"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let bin = bed.data.path().join(format!("{filter}-bin"));
    std::fs::create_dir_all(&bin).unwrap();
    let wrapper = bin.join("nbdkit");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} --filter={filter} \"$@\" {param}\n",
            real.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

/// After a failed or cancelled run: no snapshot, no attachment, no nbdkit of `vm`, and the log
/// says "cleaned up" only after the cleanup steps.
fn assert_cleaned_up_and_said_so(bed: &Bed, vm: &str, result: &Value) {
    bed.assert_clean(vm, result);
    let volumes = bed.volumes_of(vm);
    assert!(!volumes.is_empty(), "the run made its volume");
    for volume in volumes {
        assert!(
            volume.attachments.is_empty(),
            "volume {} still attached",
            volume.id
        );
    }
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("the snapshot and attachments were cleaned up"),
        "{msg}"
    );
    let log = std::fs::read_to_string(result["log_file"].as_str().unwrap()).unwrap();
    let said = log
        .find("the snapshot and attachments were cleaned up")
        .unwrap_or_else(|| panic!("no cleaned-up line: {log}"));
    for step in ["cleanup: detached volume", "cleanup: removed snapshot"] {
        let done = log
            .find(step)
            .unwrap_or_else(|| panic!("no {step:?}: {log}"));
        assert!(
            done < said,
            "{step:?} comes after the cleaned-up line: {log}"
        );
    }
}

#[test]
fn a_source_stalled_forever_fails_within_nbd_timeout_and_cleans_up() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "stall",
        vm_spec(
            "bios",
            "off",
            false,
            vec![disk(
                8 * MIB,
                "pvscsi",
                json!({"kind": "random", "seed": 91}),
            )],
        ),
    );
    let args = bed.args(&vm, json!({"nbd_timeout": 2}));
    let started = Instant::now();
    let out = module_command(&args, bed.data.path())
        .env("PATH", stalled_nbdkit(&bed))
        .output()
        .unwrap();
    let took = started.elapsed();
    let result = parse(&out);
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("no complete reply to read"), "{msg}");
    assert!(msg.contains("within 2s"), "{msg}");
    // Two tries of 2 s around one reconnect, plus the cloud's attach and detach.
    assert!(took < Duration::from_secs(90), "{took:?}");
    eprintln!("migrate under a stalled source failed after {took:?}");
    assert_cleaned_up_and_said_so(&bed, &vm, &result);
}

#[test]
fn sigterm_ends_a_migrate_blocked_on_a_stalled_source_within_10_s() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "stallterm",
        vm_spec(
            "bios",
            "off",
            false,
            vec![disk(
                8 * MIB,
                "pvscsi",
                json!({"kind": "random", "seed": 92}),
            )],
        ),
    );
    let progress = bed.data.path().join("stallterm-progress.jsonl");
    // The default nbd_timeout (minutes): only the signal can end this quickly.
    let args = bed.args(&vm, json!({"progress_file": progress}));
    let path = stalled_nbdkit(&bed);
    let mut child = module_command(&args, bed.data.path())
        .env("PATH", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&progress)
        .unwrap_or_default()
        .contains("\"copy_start\"")
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the module ended early"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no copy_start");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the copy block on its first read.
    std::thread::sleep(Duration::from_secs(2));
    let (took, out) = terminate(child, Duration::from_secs(60));
    eprintln!("migrate ended {took:?} after SIGTERM");
    assert!(took < Duration::from_secs(10), "{took:?} after SIGTERM");
    let result = parse(&out);
    assert_eq!(result["failed"], json!(true), "{result:#}");
    assert!(
        result["msg"].as_str().unwrap().contains("signal"),
        "{result:#}"
    );
    assert_cleaned_up_and_said_so(&bed, &vm, &result);
}

/// A cancelled run whose snapshot vSphere never finishes removing (a task left queued) ends
/// within its `timeout`, once, and says the snapshot is left for the operator, instead of waiting
/// forever; everything else is cleaned up.
#[test]
fn a_snapshot_removal_vsphere_never_finishes_is_bounded_by_timeout() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "stuckremove",
        vm_spec(
            "bios",
            "off",
            false,
            vec![disk(
                8 * MIB,
                "pvscsi",
                json!({"kind": "random", "seed": 93}),
            )],
        ),
    );
    let stuck = bed.control(
        "POST",
        "/tasks/stuck",
        Some(&json!({"vm": vm, "method": "RemoveSnapshot_Task"})),
    );
    assert_eq!(stuck["ok"], json!(true), "{stuck}");
    let progress = bed.data.path().join("stuckremove-progress.jsonl");
    let args = bed.args(&vm, json!({"progress_file": progress, "timeout": 6}));
    let path = stalled_nbdkit(&bed);
    let mut child = module_command(&args, bed.data.path())
        .env("PATH", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&progress)
        .unwrap_or_default()
        .contains("\"copy_start\"")
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the module ended early"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no copy_start");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_secs(1));
    let (took, out) = terminate(child, Duration::from_secs(60));
    eprintln!("migrate ended {took:?} after SIGTERM");
    // One wait of 6 s for the removal, no retry of a task that still runs.
    assert!(took < Duration::from_secs(14), "{took:?} after SIGTERM");
    let result = parse(&out);
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("NOT cleaned up, do it by hand"), "{msg}");
    assert!(msg.contains("cannot remove snapshot"), "{msg}");
    assert!(msg.contains("did not finish within 6s"), "{msg}");
    for volume in bed.volumes_of(&vm) {
        assert!(
            volume.attachments.is_empty(),
            "volume {} still attached",
            volume.id
        );
    }
}

/// A running VM whose run fails after the power-off (every read of the source fails, after the
/// snapshot, the volume and its attachment exist) runs again, with nothing attached and no
/// snapshot; told not to, the run leaves it off and says so.
#[test]
fn a_run_failing_after_the_power_off_powers_the_vm_on_again_unless_told_not_to() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "restore",
        vm_spec(
            "bios",
            "on",
            false,
            vec![disk(
                8 * MIB,
                "pvscsi",
                json!({"kind": "random", "seed": 94}),
            )],
        ),
    );
    let path = nbdkit_with_filter(&bed, "error", "error-rate=100%");
    let run = |extra: Value| {
        let args = bed.args(&vm, extra);
        let out = module_command(&args, bed.data.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        parse(&out)
    };

    let result = run(json!({}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    assert_eq!(result["source_power_restored"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("the source VM was powered on again"), "{msg}");
    let log = std::fs::read_to_string(result["log_file"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("VM power: "),
        "the run did not power the VM off: {log}"
    );
    let snapshot_gone = log.find("cleanup: removed snapshot").unwrap();
    let powered_on = log
        .find("on again")
        .unwrap_or_else(|| panic!("no power-on in the log: {log}"));
    assert!(
        snapshot_gone < powered_on,
        "powered on before the snapshot went: {log}"
    );
    assert_cleaned_up_and_said_so(&bed, &vm, &result);
    assert_eq!(bed.power_state(&vm), vsphere::vm::PowerState::PoweredOn);

    let result = run(json!({"restore_source_power_on_failure": false}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    assert_eq!(result["source_power_restored"], json!(false), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("left powered off"), "{msg}");
    assert_cleaned_up_and_said_so(&bed, &vm, &result);
    assert_eq!(bed.power_state(&vm), vsphere::vm::PowerState::PoweredOff);
}

/// A volume type whose backend does not exist, made for one test with the admin cloud: Cinder
/// accepts the create and the volume goes to `error`. Dropped: the VM's volumes, then the type.
struct UnplaceableType<'a> {
    bed: &'a Bed,
    admin: Client,
    vm: String,
    id: String,
    name: String,
}

impl<'a> UnplaceableType<'a> {
    fn create(bed: &'a Bed, vm: &str) -> Self {
        use openstack::{Request, ServiceType};
        let config = ConfigLoader::from_process()
            .load(Some(&CloudArg::Name(var("VMKIT_TEST_CLOUD_ADMIN"))))
            .unwrap();
        let admin = bed.runtime.block_on(Client::connect(config)).unwrap();
        let name = format!("vmkit-test-nowhere-{}", std::process::id());
        let created: Value = bed
            .runtime
            .block_on(admin.send_json(Request::post(
                ServiceType::BlockStorage,
                &["types"],
                json!({"volume_type": {"name": name,
                       "extra_specs": {"volume_backend_name": "vmkit-test-nowhere"}}}),
            )))
            .unwrap();
        let id = created["volume_type"]["id"].as_str().unwrap().to_owned();
        UnplaceableType {
            bed,
            admin,
            vm: vm.to_owned(),
            id,
            name,
        }
    }
}

impl Drop for UnplaceableType<'_> {
    fn drop(&mut self) {
        use openstack::{Request, ServiceType};
        for volume in self.bed.volumes_of(&self.vm) {
            let _ = self.bed.runtime.block_on(async {
                volumes::delete(&self.bed.cloud, &volume.id).await?;
                volumes::wait_deleted(&self.bed.cloud, &volume.id, Duration::from_secs(60)).await
            });
        }
        let _ = self.bed.runtime.block_on(self.admin.send(Request::delete(
            ServiceType::BlockStorage,
            &["types", &self.id],
        )));
    }
}

/// The real Cinder fails the volume create after the power-off (the volume goes to `error`): the
/// VM runs again, with no snapshot and nothing attached.
#[test]
fn a_volume_cinder_fails_to_create_after_the_power_off_leaves_the_vm_running_again() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "cinderfail",
        vm_spec(
            "bios",
            "on",
            false,
            vec![disk(
                8 * MIB,
                "pvscsi",
                json!({"kind": "random", "seed": 96}),
            )],
        ),
    );
    let unplaceable = UnplaceableType::create(&bed, &vm);
    let result = migrate(
        &bed,
        &bed.args(&vm, json!({"volumetype": unplaceable.name})),
    );
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("error"), "not the volume's failure: {msg}");
    assert!(msg.contains("the source VM was powered on again"), "{msg}");
    assert_eq!(result["source_power_restored"], json!(true), "{result:#}");
    let log = std::fs::read_to_string(result["log_file"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("VM power: "),
        "the run did not power the VM off: {log}"
    );
    bed.assert_clean(&vm, &result);
    for volume in bed.volumes_of(&vm) {
        assert!(
            volume.attachments.is_empty(),
            "volume {} attached",
            volume.id
        );
    }
    assert_eq!(bed.power_state(&vm), vsphere::vm::PowerState::PoweredOn);
}

/// The controller stops renewing the lease mid-copy (a dead `ansible-playbook`): the run cancels
/// itself once the lease is `lease_timeout` old, cleans up and powers the VM on again.
#[test]
fn a_lapsed_lease_cancels_the_run_mid_copy_and_the_vm_runs_again() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "lease",
        vm_spec(
            "bios",
            "on",
            false,
            vec![disk(
                8 * MIB,
                "pvscsi",
                json!({"kind": "random", "seed": 95}),
            )],
        ),
    );
    let progress = bed.data.path().join("lease-progress.jsonl");
    let lease = bed.data.path().join("migrate.lease");
    std::fs::write(&lease, "").unwrap();
    let renew = || {
        std::fs::File::options()
            .write(true)
            .open(&lease)
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
    };
    // The source stalls forever and nbd_timeout is minutes: only the lease can end this soon.
    let args = bed.args(
        &vm,
        json!({"progress_file": progress, "lease_file": lease, "lease_timeout": 3}),
    );
    let mut child = module_command(&args, bed.data.path())
        .env("PATH", stalled_nbdkit(&bed))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&progress)
        .unwrap_or_default()
        .contains("\"copy_start\"")
    {
        renew();
        assert!(
            child.try_wait().unwrap().is_none(),
            "the module ended early"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "no copy_start");
        std::thread::sleep(Duration::from_millis(100));
    }
    renew();
    let last_renewal = Instant::now();
    assert_eq!(
        std::fs::read_to_string(&lease).unwrap().trim(),
        child.id().to_string(),
        "the lease does not hold the run's pid"
    );
    while child.try_wait().unwrap().is_none() && last_renewal.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = last_renewal.elapsed();
    let out = child.wait_with_output().unwrap();
    eprintln!("migrate ended {took:?} after the last renewal of its 3 s lease");
    assert!(
        took >= Duration::from_secs(3),
        "ended before the lease lapsed: {took:?}"
    );
    assert!(
        took < Duration::from_secs(20),
        "{took:?} after the last renewal"
    );
    let result = parse(&out);
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("was not renewed"), "{msg}");
    assert_eq!(result["source_power_restored"], json!(true), "{result:#}");
    assert_cleaned_up_and_said_so(&bed, &vm, &result);
    assert_eq!(bed.power_state(&vm), vsphere::vm::PowerState::PoweredOn);
}

/// `x.1` and `x_1` have the same safe name; so have all names without a Latin letter or digit
/// (nothing is left of them). Each VM still gets its own volumes, bit-exact with its own disks,
/// and a re-run finds them again.
#[test]
fn vms_whose_names_collide_migrate_into_distinct_volumes_and_reruns_change_nothing() {
    let _turn = turn();
    let bed = Bed::new();
    let pid = std::process::id();
    let cyrillic: String = pid
        .to_string()
        .chars()
        .map(|d| {
            "абвгдежзик"
                .chars()
                .nth(d.to_digit(10).unwrap() as usize)
                .unwrap()
        })
        .collect();
    let pairs = [
        (format!("mig-col.1-{pid}"), format!("mig-col_1-{pid}")),
        (format!("Сервер{cyrillic}"), format!("База{cyrillic}")),
    ];
    for (round, (first, second)) in pairs.iter().enumerate() {
        let seed = 300 + 10 * round as u64;
        let spec = |seed: u64| {
            vm_spec(
                "bios",
                "off",
                false,
                vec![disk(
                    4 * MIB,
                    "pvscsi",
                    json!({"kind": "random", "seed": seed}),
                )],
            )
        };
        let a = bed.create_vm_named(first, spec(seed));
        let b = bed.create_vm_named(second, spec(seed + 1));
        let ra = migrate_ok(&bed, &bed.args(&a, json!({})));
        let rb = migrate_ok(&bed, &bed.args(&b, json!({})));
        assert_ne!(ra["id"], rb["id"], "{ra:#}\n{rb:#}");
        assert_ne!(ra["log_file"], rb["log_file"], "one directory per VM");
        check_cold_result(&bed, &a, &ra);
        check_cold_result(&bed, &b, &rb);
        let named = |r: &Value| r["disks"][0]["volume_name"].as_str().unwrap().to_owned();
        assert_ne!(named(&ra), named(&rb));
        assert!(
            rb["warnings"].to_string().contains(&named(&rb)),
            "the second VM is told its volume's name: {rb:#}"
        );
        if round == 1 {
            assert!(
                !named(&ra).starts_with("-") && named(&ra).starts_with("vm-"),
                "{ra:#}"
            );
        }
        for (vm, first_run) in [(&a, &ra), (&b, &rb)] {
            let again = migrate_ok(&bed, &bed.args(vm, json!({})));
            assert_eq!(again["changed"], json!(false), "{again:#}");
            assert_eq!(again["id"], first_run["id"]);
            bed.assert_clean(vm, &again);
        }
    }
    bed.assert_private_data();
}

/// A volume named as this VM's disk but recorded as another VM's is never reused, even when it
/// says it holds a final copy; one the original collection made (no VM recorded) is taken over
/// and copied in full.
#[test]
fn an_original_named_volume_of_another_vm_is_never_reused() {
    let _turn = turn();
    let bed = Bed::new();
    let spec = |seed: u64| {
        vm_spec(
            "bios",
            "off",
            false,
            vec![disk(
                2 * MIB,
                "pvscsi",
                json!({"kind": "random", "seed": seed}),
            )],
        )
    };
    let vm = bed.create_vm("taken", spec(401));
    let foreign = bed.plant_volume(
        &format!("{vm}-2000"),
        &[
            ("osm", "true"),
            ("converted", "true"),
            ("copy_state", "complete"),
            ("vmware_vm", "someone-else"),
            ("vmware_vm_uuid", "00000000-1111-2222-3333-444444444444"),
            ("vmware_disk_key", "2000"),
        ],
    );
    let result = migrate_ok(&bed, &bed.args(&vm, json!({})));
    assert_eq!(result["changed"], json!(true), "{result:#}");
    assert_ne!(
        result["id"][0],
        json!(foreign),
        "another VM's volume was reused"
    );
    check_cold_result(&bed, &vm, &result);
    let untouched = bed.volume(&foreign);
    assert_eq!(
        untouched.metadata["vmware_vm_uuid"],
        "00000000-1111-2222-3333-444444444444"
    );
    assert!(untouched.attachments.is_empty());
    let again = migrate_ok(&bed, &bed.args(&vm, json!({})));
    assert_eq!(again["changed"], json!(false), "{again:#}");
    assert_eq!(again["id"], result["id"]);

    let adopted_vm = bed.create_vm("orig", spec(402));
    let original = bed.plant_volume(
        &format!("{adopted_vm}-2000"),
        &[("osm", "true"), ("converted", "true")],
    );
    let result = migrate_ok(&bed, &bed.args(&adopted_vm, json!({})));
    assert_eq!(result["id"][0], json!(original), "{result:#}");
    assert_eq!(result["disks"][0]["mode"], json!("full"));
    check_cold_result(&bed, &adopted_vm, &result);
    assert!(
        bed.volume(&original)
            .metadata
            .contains_key("vmware_vm_uuid")
    );
    bed.assert_clean(&adopted_vm, &result);
}

/// A `migrate.lock` symlink planted in the VM's directory is refused: its target is unchanged.
#[test]
fn a_planted_lock_symlink_is_refused_and_its_target_unchanged() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "link",
        vm_spec(
            "bios",
            "off",
            false,
            vec![disk(MIB, "pvscsi", json!({"kind": "random", "seed": 501}))],
        ),
    );
    let mut check = bed.args(&vm, json!({}));
    check["_ansible_check_mode"] = json!(true);
    let planned = migrate_ok(&bed, &check);
    let vm_dir = Path::new(planned["log_file"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_owned();
    assert!(!bed.osm().exists(), "check mode made files");
    std::fs::create_dir_all(&vm_dir).unwrap();
    std::fs::set_permissions(
        bed.osm(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let victim = bed.data.path().join("victim");
    std::fs::write(&victim, "must stay").unwrap();
    std::os::unix::fs::symlink(&victim, vm_dir.join("migrate.lock")).unwrap();
    let result = migrate(&bed, &bed.args(&vm, json!({})));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    assert!(
        result["msg"].as_str().unwrap().contains("symbolic link"),
        "{result:#}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "must stay");
    assert!(bed.volumes_of(&vm).is_empty());
    assert!(bed.snapshots(&vm).is_empty());
}

/// Stand-ins for the conversion tools in `bin`: a virt-v2v-in-place that records how it was run
/// in `record` and marks every disk it was given (proving it ran on the attached volumes), whose
/// `--help` lists `--firstboot` only when `takes_scripts` (virt-v2v 2.3 on); and a
/// virt-customize that records its arguments in `<record>.customize`.
fn stand_in_conversion_tools(bin: &Path, record: &Path, takes_scripts: bool) {
    std::fs::create_dir_all(bin).unwrap();
    let help = if takes_scripts {
        "  --firstboot <script>  Install firstboot script in the guest"
    } else {
        "  -i <disk|libvirtxml>  Set input mode"
    };
    let tools = [
        (
            "virt-v2v-in-place",
            format!(
                r#"#!/bin/sh
if [ "$1" = --help ]; then echo '{help}'; exit 0; fi
printf '%s\n' "$@" > {record}
echo "LIBGUESTFS_BACKEND=$LIBGUESTFS_BACKEND" >> {record}
prev=
for a in "$@"; do
  if [ "$prev" = --run ]; then cat "$a" >> {record}.run; fi
  if [ "$prev" = libvirtxml ]; then
    cp "$a" {record}.xml
    for dev in $(sed -n "s/.*<source dev='\([^']*\)'.*/\1/p" "$a"); do printf 'converted' | dd of="$dev" bs=9 count=1 conv=notrunc 2>/dev/null; done
  fi
  prev=$a
done
"#,
                record = record.display()
            ),
        ),
        (
            "virt-customize",
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > {record}.customize\n",
                record = record.display()
            ),
        ),
    ];
    for (name, text) in tools {
        std::fs::write(bin.join(name), text).unwrap();
        std::fs::set_permissions(
            bin.join(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
}

/// virt-v2v-in-place 2.2 (Debian 12) has no `--firstboot`/`--run`: the scripts go in through
/// virt-customize on the same converted disks after the conversion.
#[test]
fn scripts_go_through_virt_customize_when_virt_v2v_in_place_lacks_them() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "conv22",
        vm_spec(
            "bios",
            "off",
            false,
            vec![
                disk(MIB, "pvscsi", json!({"kind": "random", "seed": 111})),
                disk(MIB, "sata", json!({"kind": "random", "seed": 112})),
            ],
        ),
    );
    let bin = bed.data.path().join("v2v22-bin");
    let record = bed.data.path().join("v2v22-record");
    stand_in_conversion_tools(&bin, &record, false);
    let script = bed.data.path().join("firstboot22.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let args = bed.args(
        &vm,
        json!({"skipconversion": false, "multidiskfs": true, "bootscript": script}),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let result = parse(
        &module_command(&args, bed.data.path())
            .env("PATH", &path)
            .output()
            .unwrap(),
    );
    assert_eq!(result["failed"], json!(false), "{result:#}");
    let converted = std::fs::read_to_string(&record).unwrap();
    assert!(!converted.contains("--firstboot"), "{converted}");
    let customized = std::fs::read_to_string(format!("{}.customize", record.display())).unwrap();
    let lines: Vec<&str> = customized.lines().collect();
    assert_eq!(lines[..2], ["--format", "raw"], "{customized}");
    assert_eq!(
        lines.iter().filter(|l| **l == "-a").count(),
        2,
        "both disks: {customized}"
    );
    assert_eq!(
        lines[lines.len() - 2..],
        ["--firstboot", script.to_str().unwrap()],
        "{customized}"
    );
    bed.assert_clean(&vm, &result);

    // Without virt-customize either, the run is refused before anything changes.
    std::fs::remove_file(bin.join("virt-customize")).unwrap();
    let other = bed.create_vm(
        "conv22none",
        vm_spec(
            "bios",
            "on",
            false,
            vec![disk(MIB, "pvscsi", json!({"kind": "random", "seed": 113}))],
        ),
    );
    let args = bed.args(
        &other,
        json!({"skipconversion": false, "bootscript": script}),
    );
    let refused = parse(
        &module_command(&args, bed.data.path())
            .env("PATH", &path)
            .output()
            .unwrap(),
    );
    assert_eq!(refused["failed"], json!(true), "{refused:#}");
    let msg = refused["msg"].as_str().unwrap();
    assert!(
        msg.contains("virt-customize") && msg.contains("import_workloads_boot_script_path"),
        "{msg}"
    );
    bed.assert_untouched(&other);
}

/// SIGTERM during the conversion stops virt-v2v-in-place and everything it started (its process
/// group) before the volumes are detached, and the run ends within seconds.
#[test]
fn sigterm_during_the_conversion_stops_the_tool_and_its_children() {
    let _turn = turn();
    let bed = Bed::new();
    let vm = bed.create_vm(
        "convterm",
        vm_spec(
            "bios",
            "off",
            false,
            vec![disk(MIB, "pvscsi", json!({"kind": "random", "seed": 121}))],
        ),
    );
    let bin = bed.data.path().join("v2vslow-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pids = bed.data.path().join("v2vslow-pids");
    // A conversion that never ends on its own, with a child of its own (as the appliance is).
    std::fs::write(
        bin.join("virt-v2v-in-place"),
        format!(
            "#!/bin/sh\n[ \"$1\" = --help ] && exit 0\nsleep 600 &\necho $$ $! > {}\nwait\n",
            pids.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("virt-v2v-in-place"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let args = bed.args(&vm, json!({"skipconversion": false}));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut child = module_command(&args, bed.data.path())
        .env("PATH", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::fs::read_to_string(&pids)
        .unwrap_or_default()
        .split_whitespace()
        .count()
        < 2
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the module ended early"
        );
        assert!(start.elapsed() < Duration::from_secs(180), "no conversion");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (took, out) = terminate(child, Duration::from_secs(90));
    eprintln!("migrate ended {took:?} after SIGTERM during the conversion");
    let result = parse(&out);
    assert_eq!(result["failed"], json!(true), "{result:#}");
    for pid in std::fs::read_to_string(&pids).unwrap().split_whitespace() {
        // A zombie (waiting for a PID 1 that may not reap) has stopped running.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        assert!(
            stat.is_empty() || state.starts_with('Z'),
            "conversion process {pid} still runs: {stat}"
        );
    }
    assert!(took < Duration::from_secs(30), "{took:?} after SIGTERM");
    bed.assert_clean(&vm, &result);
    for volume in bed.volumes_of(&vm) {
        assert!(
            volume.attachments.is_empty(),
            "volume {} attached",
            volume.id
        );
        assert_ne!(
            volume.metadata.get("converted").map(String::as_str),
            Some("true")
        );
    }
}

/// SIGTERM to `child`, then how long it took to end (SIGKILL past `limit`) and its output.
fn terminate(mut child: Child, limit: Duration) -> (Duration, Output) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let signalled = Instant::now();
    while child.try_wait().unwrap().is_none() && signalled.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = signalled.elapsed();
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
    }
    (took, child.wait_with_output().unwrap())
}
