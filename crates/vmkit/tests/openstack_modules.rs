//! The OpenStack modules, run the way Ansible runs them (`AnsiballZ_<module> <args file>`),
//! against the test bed's real Keystone, Cinder, Nova and Neutron as the non-admin cloud (the
//! admin cloud only where the API needs it: creating flavors). Needs
//! `scripts/testbed up openstack; eval "$(scripts/testbed env)"`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use openstack::cinder::volumes;
use openstack::neutron::{ports, subnets};
use openstack::nova::{servers, volume_attachments};
use openstack::{Client, CloudArg, ConfigLoader, Request, ServiceType};
use serde_json::{Value, json};

const HOW_TO_START: &str = "the OpenStack test bed is not up: run `scripts/testbed up openstack; eval \"$(scripts/testbed env)\"`";
const WAIT: Duration = Duration::from_secs(300);
const TAG: &str = "os-migrate-vmware";

/// Tests that make Nova's single compute service attach or build take turns (two cores run
/// the whole control plane).
static COMPUTE: Mutex<()> = Mutex::new(());

fn compute_turn() -> MutexGuard<'static, ()> {
    COMPUTE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{name} is not set; {HOW_TO_START}"),
    }
}

struct Bed {
    runtime: tokio::runtime::Runtime,
    client: Client,
    cloud: String,
    admin_cloud: String,
}

impl Bed {
    fn new() -> Bed {
        var("OS_CLIENT_CONFIG_FILE");
        let cloud = var("VMKIT_TEST_CLOUD");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = ConfigLoader::from_process()
            .load(Some(&CloudArg::Name(cloud.clone())))
            .unwrap_or_else(|e| panic!("{e}; {HOW_TO_START}"));
        let client = runtime
            .block_on(Client::connect(config))
            .unwrap_or_else(|e| panic!("cannot connect to {cloud}: {e}; {HOW_TO_START}"));
        Bed {
            runtime,
            client,
            cloud,
            admin_cloud: var("VMKIT_TEST_CLOUD_ADMIN"),
        }
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn new_volume(&self, name: &str, metadata: &[(&str, &str)]) -> volumes::Volume {
        let types = var("VMKIT_TEST_VOLUME_TYPES");
        let volume = self
            .block_on(volumes::create(
                &self.client,
                &volumes::CreateOpts {
                    name: name.to_owned(),
                    size: 1,
                    volume_type: types.split(',').next().map(str::to_owned),
                    metadata: map(metadata),
                    ..volumes::CreateOpts::default()
                },
            ))
            .expect("volume create");
        self.block_on(volumes::wait_status(
            &self.client,
            &volume.id,
            "available",
            WAIT,
        ))
        .expect("volume available")
    }

    fn count_servers_named(&self, name: &str) -> usize {
        self.block_on(servers::list(
            &self.client,
            &servers::ListOpts {
                name: Some(name.to_owned()),
                ..servers::ListOpts::default()
            },
        ))
        .expect("list servers")
        .len()
    }

    fn ports_named_like(&self, prefix: &str) -> Vec<ports::Port> {
        let mut found: Vec<ports::Port> = self
            .block_on(ports::list(
                &self.client,
                &ports::ListOpts {
                    tags: vec![TAG.to_owned()],
                    ..ports::ListOpts::default()
                },
            ))
            .expect("list ports")
            .into_iter()
            .filter(|p| p.name.starts_with(prefix))
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    fn volumes_named_like(&self, prefix: &str) -> usize {
        self.block_on(volumes::list(&self.client, &volumes::ListOpts::default()))
            .expect("list volumes")
            .iter()
            .filter(|v| v.name.starts_with(prefix))
            .count()
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "vmkit-test-{what}-{:08x}",
        nanos ^ std::process::id().rotate_left(16)
    )
}

fn random_mac(seed: &str) -> String {
    let mut hash: u32 = 2166136261;
    for byte in seed.bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(16777619);
    }
    let b = hash.to_be_bytes();
    format!("00:50:56:{:02x}:{:02x}:{:02x}", b[1] & 0x3f, b[2], b[3])
}

/// Runs one module as Ansible does and returns its one JSON result line.
fn run(module: &str, args: Value) -> Value {
    run_with(module, args, false)
}

fn run_check(module: &str, args: Value) -> Value {
    run_with(module, args, true)
}

fn run_with(module: &str, mut args: Value, check_mode: bool) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let program = dir.path().join(format!("AnsiballZ_{module}"));
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_vmkit"), &program).expect("symlink");
    args["_ansible_check_mode"] = json!(check_mode);
    let args_file = dir.path().join("args");
    std::fs::write(&args_file, args.to_string()).expect("args file");
    let out = Command::new(&program)
        .arg(&args_file)
        .output()
        .expect("run module");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{module}: one JSON line on stdout, got {stdout:?}; stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: Value = serde_json::from_str(lines[0]).expect("JSON result");
    assert_eq!(
        value["failed"] == json!(true),
        !out.status.success(),
        "{module}: exit status agrees with failed: {value}"
    );
    value
}

fn ok(module: &str, result: &Value) {
    assert_eq!(result["failed"], json!(false), "{module} failed: {result}");
}

fn failed_with(module: &str, result: &Value, words: &[&str]) {
    assert_eq!(
        result["failed"],
        json!(true),
        "{module} should fail: {result}"
    );
    let msg = result["msg"].as_str().unwrap_or_default();
    for word in words {
        assert!(
            msg.contains(word),
            "{module}: {word:?} not in the message {msg:?}"
        );
    }
}

/// Deletes what a test made through the delete_* modules (themselves under test: absent is
/// fine), in reverse order, even when the test panicked.
struct Cleanup<'a> {
    bed: &'a Bed,
    made: Vec<(&'static str, String)>,
    attachments: Vec<(String, String)>,
}

impl<'a> Cleanup<'a> {
    fn new(bed: &'a Bed) -> Cleanup<'a> {
        Cleanup {
            bed,
            made: Vec::new(),
            attachments: Vec::new(),
        }
    }

    fn add(&mut self, module: &'static str, id: &str) {
        self.made.push((module, id.to_owned()));
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for (server, volume) in self.attachments.drain(..) {
            let client = &self.bed.client;
            let _ = self.bed.block_on(async {
                volume_attachments::detach(client, &server, &volume).await?;
                volume_attachments::wait_detached(client, &server, &volume, WAIT).await
            });
        }
        for (module, id) in self.made.drain(..).rev() {
            let cloud = if module == "delete_flavor" {
                &self.bed.admin_cloud
            } else {
                &self.bed.cloud
            };
            let result = run(module, json!({"cloud": cloud, "name": id}));
            if result["failed"] == json!(true) {
                eprintln!("cleanup: {module} {id}: {result}");
            }
        }
    }
}

fn write_json(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
    path
}

/// guest_info.json and disk_info.json of a VM with these sizes, as export_metadata writes them.
fn vm_files(dir: &Path, vcpus: u32, memory_mib: u64, disks_gib: &[u64]) -> (PathBuf, PathBuf) {
    let guest = write_json(
        dir,
        "guest_info.json",
        &json!({
            "hw_name": "web01", "hw_processor_count": vcpus, "hw_cores_per_socket": 1,
            "hw_memtotal_mb": memory_mib, "hw_folder": "/DC-Lab/vm", "moid": "vm-42",
        }),
    );
    let disks: Vec<Value> = disks_gib.iter().enumerate().map(|(i, gib)| json!({
        "disk": format!("{}", 2000 + i), "label": format!("Hard disk {}", i + 1), "type": "SCSI",
        "capacity": gib << 30, "backing": {"type": "VMDK_FILE", "vmdk_file": format!("[datastore1] web01/web01_{i}.vmdk")},
    })).collect();
    let disk = write_json(
        dir,
        "disk_info.json",
        &json!({"disks": disks, "disk_keys": []}),
    );
    (guest, disk)
}

#[test]
fn flavor_modules_choose_import_describe_and_delete() {
    let bed = Bed::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (guest, disks) = vm_files(dir.path(), 2, 4096, &[60, 40]);
    let args = json!({"cloud": bed.cloud, "guest_info_path": guest, "disk_info_path": disks});
    let chosen = run("best_match_flavor", args.clone());
    ok("best_match_flavor", &chosen);
    assert_eq!(chosen["changed"], json!(false));
    // Booting from a volume: the disk is not compared; the flavor reserving no disk wins.
    assert_eq!(chosen["flavor"]["name"], "2vcpu-4gib-disk0", "{chosen}");
    assert_eq!(chosen["openstack_flavor_uuid"], chosen["flavor"]["id"]);
    let mut local = args.clone();
    local["boot_from_volume"] = json!(false);
    let chosen_local = run("best_match_flavor", local);
    ok("best_match_flavor", &chosen_local);
    // Booting from a local disk: 100 GiB of disks need m1.xlarge's 160 GiB (m1.large has 80).
    assert_eq!(
        chosen_local["flavor"]["name"], "m1.xlarge",
        "{chosen_local}"
    );

    let (guest, disks) = vm_files(dir.path(), 64, 524288, &[10]);
    let too_big = run(
        "best_match_flavor",
        json!({"cloud": bed.cloud, "guest_info_path": guest, "disk_info_path": disks}),
    );
    failed_with(
        "best_match_flavor",
        &too_big,
        &[
            "at least 64 vCPUs and 524288 MiB RAM",
            // Not a flavor's name: tests running beside this one create flavors of their own.
            "(largest: ",
            "import_flavor",
        ],
    );

    let info = run(
        "flavor_info",
        json!({"cloud": bed.cloud, "flavor_name": "m1.medium"}),
    );
    ok("flavor_info", &info);
    assert_eq!(
        (
            info["flavor"]["vcpus"].as_u64(),
            info["flavor"]["ram"].as_u64()
        ),
        (Some(2), Some(4096))
    );
    let by_id = run(
        "flavor_info",
        json!({"cloud": bed.cloud, "flavor_name": info["flavor"]["id"]}),
    );
    assert_eq!(by_id["flavor"]["name"], "m1.medium", "{by_id}");

    let name = unique("flavor");
    let flavors_file = dir.path().join("flavors.yml");
    std::fs::write(&flavors_file, format!(
        "os_migrate_version: 1.0.1\nresources:\n- _info: {{id: null, is_disabled: false}}\n  _migration_params: {{}}\n  params: {{name: {name}, vcpus: 2, ram: 3072, disk: 0, ephemeral: 0, swap: 0, rxtx_factor: 1.0, is_public: true, extra_specs: {{'hw:cpu_policy': shared}}, description: null}}\n  type: openstack.compute.Flavor\n"
    )).expect("flavors.yml");
    let import_args = json!({"cloud": bed.admin_cloud, "flavors_file": flavors_file});
    let mut cleanup = Cleanup::new(&bed);
    let refused = run(
        "import_flavor",
        json!({"cloud": bed.cloud, "flavors_file": flavors_file}),
    );
    failed_with(
        "import_flavor",
        &refused,
        &["403", "needs an administrator", "admin cloud"],
    );
    let would = run_check("import_flavor", import_args.clone());
    ok("import_flavor", &would);
    assert_eq!(would["changed"], json!(true));
    assert!(
        run(
            "flavor_info",
            json!({"cloud": bed.cloud, "flavor_name": name})
        )["failed"]
            == json!(true),
        "check mode made nothing"
    );
    let created = run("import_flavor", import_args.clone());
    ok("import_flavor", &created);
    assert_eq!(created["changed"], json!(true));
    let id = created["created_flavor"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    cleanup.add("delete_flavor", &id);
    let again = run("import_flavor", import_args);
    ok("import_flavor", &again);
    assert_eq!(
        (
            again["changed"].clone(),
            again["created_flavor"]["id"].clone()
        ),
        (json!(false), json!(id))
    );
    let read = run(
        "flavor_info",
        json!({"cloud": bed.admin_cloud, "flavor_name": name}),
    );
    assert_eq!(
        read["flavor"]["extra_specs"]["hw:cpu_policy"], "shared",
        "{read}"
    );

    let delete_args = json!({"cloud": bed.admin_cloud, "name": name});
    let would = run_check("delete_flavor", delete_args.clone());
    assert_eq!(
        (would["changed"].clone(), would["id"].clone()),
        (json!(true), json!(id))
    );
    let deleted = run("delete_flavor", delete_args.clone());
    ok("delete_flavor", &deleted);
    assert_eq!(deleted["changed"], json!(true));
    let again = run("delete_flavor", delete_args);
    ok("delete_flavor", &again);
    assert_eq!(again["changed"], json!(false));
}

#[test]
fn ports_keep_macs_and_fixed_ipv4_and_ipv6_and_are_not_duplicated() {
    let bed = Bed::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let vm = unique("vm");
    let client = &bed.client;
    let v4 = bed
        .block_on(subnets::get(client, &var("VMKIT_TEST_SUBNET_V4_ID")))
        .expect("v4 subnet");
    let v6 = bed
        .block_on(subnets::get(client, &var("VMKIT_TEST_SUBNET_V6_ID")))
        .expect("v6 subnet");
    let (ip4, ip6) = free_addresses(&bed, &v4.cidr, &v6.cidr, &vm);
    let (mac0, mac1) = (random_mac(&format!("{vm}0")), random_mac(&format!("{vm}1")));
    let nics = write_json(
        dir.path(),
        "nics.json",
        &json!([
            {"vlan": var("VMKIT_TEST_NETWORK"), "mac": mac0, "ipaddresses": [ip4, "fe80::250:56ff:fe00:1", ip6]},
            {"vlan": var("VMKIT_TEST_NETWORK2"), "mac": mac1, "ipaddresses": []},
        ]),
    );
    let args = json!({
        "cloud": bed.cloud, "os_migrate_nics_file_path": nics, "vm_name": vm,
        "used_mapped_networks": true, "use_fixed_ips": true,
        "security_groups": var("VMKIT_TEST_SECURITY_GROUP"),
    });
    let mut cleanup = Cleanup::new(&bed);

    let would = run_check("create_network_port", args.clone());
    ok("create_network_port", &would);
    assert_eq!(would["changed"], json!(true));
    assert!(
        bed.ports_named_like(&vm).is_empty(),
        "check mode made no port"
    );

    let created = run("create_network_port", args.clone());
    ok("create_network_port", &created);
    for port in created["ports"].as_array().expect("ports") {
        if let Some(id) = port["port-id"].as_str() {
            cleanup.add("delete_port", id);
        }
    }
    assert_eq!(created["changed"], json!(true), "{created}");
    let made = bed.ports_named_like(&vm);
    assert_eq!(made.len(), 2, "{made:?}");
    let nic0 = made
        .iter()
        .find(|p| p.mac_address == mac0)
        .expect("NIC 0 kept its MAC");
    let nic1 = made
        .iter()
        .find(|p| p.mac_address == mac1)
        .expect("NIC 1 kept its MAC");
    assert_eq!(
        nic0.name,
        format!("{vm}-NIC-0-VLAN-{}", var("VMKIT_TEST_NETWORK"))
    );
    let mut fixed: Vec<(String, String)> = nic0
        .fixed_ips
        .iter()
        .map(|f| (f.subnet_id.clone(), f.ip_address.clone()))
        .collect();
    fixed.sort();
    let mut expected = vec![(v4.id.clone(), ip4.clone()), (v6.id.clone(), ip6.clone())];
    expected.sort();
    assert_eq!(
        fixed, expected,
        "IPv4 and IPv6 on the subnets holding them, link-local left out"
    );
    assert_eq!(
        nic0.security_groups,
        vec![var("VMKIT_TEST_SECURITY_GROUP_ID")],
        "a single group given as a string"
    );
    assert_eq!(nic1.network_id, var("VMKIT_TEST_NETWORK2_ID"));
    let ids: Vec<Value> = created["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port-id"].clone())
        .collect();

    let again = run("create_network_port", args.clone());
    ok("create_network_port", &again);
    assert_eq!(again["changed"], json!(false), "{again}");
    let ids_again: Vec<Value> = again["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port-id"].clone())
        .collect();
    assert_eq!(ids_again, ids, "the same ports are found again");
    assert_eq!(bed.ports_named_like(&vm).len(), 2, "no duplicate ports");

    // The NIC now maps to another network: the earlier port is named, not silently reused.
    let moved = write_json(
        dir.path(),
        "moved.json",
        &json!([{"vlan": var("VMKIT_TEST_NETWORK2"), "mac": mac0, "ipaddresses": []}]),
    );
    let refused = run(
        "create_network_port",
        json!({"cloud": bed.cloud, "os_migrate_nics_file_path": moved, "vm_name": vm, "used_mapped_networks": true}),
    );
    failed_with(
        "create_network_port",
        &refused,
        &["an earlier run made", &nic0.id, "delete_port"],
    );

    // macs.json: every NIC on network_name; subnet_uuid is honoured (allocation from it).
    let vm2 = unique("vm");
    let mac2 = random_mac(&format!("{vm2}0"));
    let macs = write_json(
        dir.path(),
        "macs.json",
        &json!([{"mac": mac2, "ipaddresses": [ip4], "subnet": ""}]),
    );
    let unmapped = json!({
        "cloud": bed.cloud, "os_migrate_nics_file_path": macs, "vm_name": vm2,
        "network_name": var("VMKIT_TEST_NETWORK"), "subnet_uuid": v6.id,
    });
    let created = run("create_network_port", unmapped.clone());
    ok("create_network_port", &created);
    let port_id = created["ports"][0]["port-id"]
        .as_str()
        .expect("port id")
        .to_owned();
    cleanup.add("delete_port", &port_id);
    let port = bed.block_on(ports::get(client, &port_id)).expect("port");
    assert_eq!(port.mac_address, mac2);
    assert!(
        port.fixed_ips.iter().all(|f| f.subnet_id == v6.id) && !port.fixed_ips.is_empty(),
        "only the given subnet: {:?}",
        port.fixed_ips
    );

    // A MAC held by a port the migration did not make is said, not duplicated.
    let foreign = bed
        .block_on(ports::create(
            client,
            &ports::CreateOpts {
                network_id: var("VMKIT_TEST_NETWORK_ID"),
                name: format!("{vm2}-foreign"),
                mac_address: Some(random_mac(&format!("{vm2}f"))),
                ..ports::CreateOpts::default()
            },
        ))
        .expect("foreign port");
    cleanup.add("delete_port", &foreign.id);
    let clash = write_json(
        dir.path(),
        "clash.json",
        &json!([{"mac": foreign.mac_address, "ipaddresses": [], "subnet": ""}]),
    );
    let refused = run(
        "create_network_port",
        json!({
            "cloud": bed.cloud, "os_migrate_nics_file_path": clash, "vm_name": vm2, "network_name": var("VMKIT_TEST_NETWORK"),
        }),
    );
    failed_with(
        "create_network_port",
        &refused,
        &[&foreign.id, "did not make"],
    );

    let missing = run(
        "create_network_port",
        json!({
            "cloud": bed.cloud, "os_migrate_nics_file_path": macs, "vm_name": vm2, "network_name": "no-such-network",
        }),
    );
    failed_with(
        "create_network_port",
        &missing,
        &["no-such-network", "does not exist", "network_map"],
    );
    let wrong_subnet = run(
        "create_network_port",
        json!({
            "cloud": bed.cloud, "os_migrate_nics_file_path": macs, "vm_name": vm2,
            "network_name": var("VMKIT_TEST_NETWORK2"), "subnet_uuid": v4.id,
        }),
    );
    failed_with(
        "create_network_port",
        &wrong_subnet,
        &["subnet_uuid", "is on network"],
    );

    for port in bed.ports_named_like(&vm) {
        let deleted = run(
            "delete_port",
            json!({"cloud": bed.cloud, "name": port.name}),
        );
        ok("delete_port", &deleted);
        assert_eq!(deleted["changed"], json!(true));
        let again = run("delete_port", json!({"cloud": bed.cloud, "name": port.id}));
        assert_eq!(
            (again["failed"].clone(), again["changed"].clone()),
            (json!(false), json!(false))
        );
    }
    assert!(bed.ports_named_like(&vm).is_empty());
}

/// An IPv4 and an IPv6 address no port of the subnets holds, picked from the VM name.
fn free_addresses(bed: &Bed, cidr4: &str, cidr6: &str, seed: &str) -> (String, String) {
    let used: Vec<String> = bed
        .block_on(ports::list(
            &bed.client,
            &ports::ListOpts {
                network_id: Some(var("VMKIT_TEST_NETWORK_ID")),
                ..ports::ListOpts::default()
            },
        ))
        .expect("ports")
        .into_iter()
        .flat_map(|p| p.fixed_ips.into_iter().map(|f| f.ip_address))
        .collect();
    let base4: std::net::Ipv4Addr = cidr4
        .split('/')
        .next()
        .and_then(|b| b.parse().ok())
        .expect("v4 cidr");
    let base6: std::net::Ipv6Addr = cidr6
        .split('/')
        .next()
        .and_then(|b| b.parse().ok())
        .expect("v6 cidr");
    let start = 100 + seed.bytes().map(u32::from).sum::<u32>() % 100;
    (start..250)
        .map(|host| {
            (
                std::net::Ipv4Addr::from(u32::from(base4) + host).to_string(),
                std::net::Ipv6Addr::from(u128::from(base6) + u128::from(host)).to_string(),
            )
        })
        .find(|(a, b)| !used.contains(a) && !used.contains(b))
        .expect("a free address")
}

/// The "done when" chain: volumes made and marked, attached to the conversion host and
/// detached, ports with kept MACs and fixed IPs, a server booting from the volume with a data
/// volume and a key pair that reaches ACTIVE; every module's second run changes nothing.
#[test]
fn volume_to_active_server_chain_and_every_rerun_changes_nothing() {
    let bed = Bed::new();
    let _turn = compute_turn();
    let dir = tempfile::tempdir().expect("tempdir");
    let client = &bed.client;
    let vm = unique("chain");
    let conversion_host = var("VMKIT_TEST_CONVERSION_HOST_ID");
    let mut cleanup = Cleanup::new(&bed);

    // Volumes as the migration makes them; someone else's metadata key is already on one.
    let boot = bed.new_volume(&format!("{vm}-2000"), &[("owner", "backup-tool")]);
    cleanup.add("delete_volume", &boot.id);
    let data = bed.new_volume(&format!("{vm}-2001"), &[]);
    cleanup.add("delete_volume", &data.id);
    for volume in [&boot, &data] {
        bed.block_on(volumes::merge_metadata(
            client,
            &volume.id,
            &map(&[("osm", "true"), ("converted", "false")]),
        ))
        .expect("merge metadata");
    }
    bed.block_on(volumes::set_bootable(client, &boot.id, true))
        .expect("bootable");

    // Copy phase: attached to the conversion host, then detached.
    bed.block_on(volume_attachments::attach(
        client,
        &conversion_host,
        &volume_attachments::AttachOpts {
            volume_id: boot.id.clone(),
            ..volume_attachments::AttachOpts::default()
        },
    ))
    .expect("attach to the conversion host");
    cleanup
        .attachments
        .push((conversion_host.clone(), boot.id.clone()));
    bed.block_on(volume_attachments::wait_attached(
        client,
        &conversion_host,
        &boot.id,
        WAIT,
    ))
    .expect("attached");
    let info = run(
        "volume_info",
        json!({"cloud": bed.cloud, "name": format!("{vm}-2000")}),
    );
    ok("volume_info", &info);
    assert_eq!(info["volumes"][0]["status"], "in-use");
    assert_eq!(
        info["volumes"][0]["attachments"][0]["server_id"],
        json!(conversion_host)
    );
    let refused = run(
        "delete_volume",
        json!({"cloud": bed.cloud, "name": boot.id}),
    );
    failed_with(
        "delete_volume",
        &refused,
        &["attached", &conversion_host, "detach"],
    );
    let refused = run(
        "create_server",
        json!({
            "cloud": bed.cloud, "name": vm, "boot_volume": boot.id, "flavor": "2vcpu-4gib-disk0",
        }),
    );
    failed_with(
        "create_server",
        &refused,
        &["still attached", &conversion_host],
    );
    bed.block_on(volume_attachments::detach(
        client,
        &conversion_host,
        &boot.id,
    ))
    .expect("detach");
    bed.block_on(volume_attachments::wait_detached(
        client,
        &conversion_host,
        &boot.id,
        WAIT,
    ))
    .expect("detached");
    cleanup.attachments.clear();
    bed.block_on(volumes::merge_metadata(
        client,
        &boot.id,
        &map(&[("converted", "true")]),
    ))
    .expect("converted");

    let converted = run(
        "volume_metadata_info",
        json!({"dst_cloud": bed.cloud, "volume_id": boot.id}),
    );
    ok("volume_metadata_info", &converted);
    assert_eq!(converted["converted"], json!(true));
    assert_eq!(
        converted["metadata"]["owner"], "backup-tool",
        "the foreign key survives our merges"
    );
    let not_converted = run(
        "volume_metadata_info",
        json!({"dst_cloud": bed.cloud, "volume_id": data.id}),
    );
    assert_eq!(not_converted["converted"], json!(false));
    let info = run("volume_info", json!({"cloud": bed.cloud, "name": boot.id}));
    assert_eq!(
        (
            info["volumes"][0]["status"].clone(),
            info["volumes"][0]["bootable"].clone()
        ),
        (json!("available"), json!(true))
    );

    // Ports.
    let v4 = bed
        .block_on(subnets::get(client, &var("VMKIT_TEST_SUBNET_V4_ID")))
        .expect("v4");
    let v6 = bed
        .block_on(subnets::get(client, &var("VMKIT_TEST_SUBNET_V6_ID")))
        .expect("v6");
    let (ip4, ip6) = free_addresses(&bed, &v4.cidr, &v6.cidr, &vm);
    let mac = random_mac(&vm);
    let nics = write_json(
        dir.path(),
        "nics.json",
        &json!([{"vlan": var("VMKIT_TEST_NETWORK"), "mac": mac, "ipaddresses": [ip4, ip6]}]),
    );
    let port_args = json!({
        "cloud": bed.cloud, "os_migrate_nics_file_path": nics, "vm_name": vm,
        "used_mapped_networks": true, "use_fixed_ips": true, "security_groups": [var("VMKIT_TEST_SECURITY_GROUP")],
    });
    let ports_made = run("create_network_port", port_args.clone());
    ok("create_network_port", &ports_made);
    let port_id = ports_made["ports"][0]["port-id"]
        .as_str()
        .expect("port")
        .to_owned();
    cleanup.add("delete_port", &port_id);

    // The server.
    let keypair = var("VMKIT_TEST_KEYPAIR");
    let server_args = json!({
        "cloud": bed.cloud, "name": vm, "boot_volume": boot.id, "volumes": [format!("{vm}-2001")],
        "nics": ports_made["ports"], "flavor": "2vcpu-4gib-disk0", "key_name": keypair,
        "security_groups": [var("VMKIT_TEST_SECURITY_GROUP")], "user_data": "#cloud-config\n",
    });
    let would = run_check("create_server", server_args.clone());
    ok("create_server", &would);
    assert_eq!(would["changed"], json!(true));
    assert_eq!(bed.count_servers_named(&vm), 0, "check mode made nothing");
    let created = run("create_server", server_args.clone());
    ok("create_server", &created);
    let server_id = created["id"].as_str().expect("server id").to_owned();
    cleanup.made.insert(0, ("delete_volume", data.id.clone()));
    cleanup.add("delete_server", &server_id);
    assert_eq!(created["changed"], json!(true));
    assert_eq!(created["server"]["status"], "ACTIVE", "{created}");
    let server = bed
        .block_on(servers::get(client, &server_id))
        .expect("server");
    assert_eq!(
        server.key_name.as_deref(),
        Some(keypair.as_str()),
        "key_name is sent to Nova"
    );
    assert!(server.tags.iter().any(|t| t == TAG));
    let mut attached: Vec<&str> = server
        .volumes_attached
        .iter()
        .map(|v| v.id.as_str())
        .collect();
    attached.sort();
    let mut expected = vec![boot.id.as_str(), data.id.as_str()];
    expected.sort();
    assert_eq!(
        attached, expected,
        "boots from the volume with the data volume attached"
    );
    let addresses: Vec<&servers::Address> = server.addresses.values().flatten().collect();
    for ip in [&ip4, &ip6] {
        assert!(
            addresses
                .iter()
                .any(|a| &a.addr == ip && a.mac_addr.as_deref() == Some(mac.as_str())),
            "{ip} with MAC {mac}: {addresses:?}"
        );
    }

    // Every module's second run changes nothing.
    let (servers_before, ports_before, volumes_before) = (
        bed.count_servers_named(&vm),
        bed.ports_named_like(&vm).len(),
        bed.volumes_named_like(&vm),
    );
    let again = run("create_server", server_args.clone());
    ok("create_server", &again);
    assert_eq!(
        (again["changed"].clone(), again["id"].clone()),
        (json!(false), json!(server_id))
    );
    let server_args_again = server_args.clone();
    let again = run_check("create_server", server_args);
    assert_eq!(again["changed"], json!(false), "check mode sees it exists");
    let again = run("create_network_port", port_args);
    ok("create_network_port", &again);
    assert_eq!(again["changed"], json!(false), "{again}");
    for (module, args) in [
        ("volume_info", json!({"cloud": bed.cloud, "name": boot.id})),
        (
            "volume_metadata_info",
            json!({"dst_cloud": bed.cloud, "volume_id": boot.id}),
        ),
        (
            "flavor_info",
            json!({"cloud": bed.cloud, "flavor_name": "2vcpu-4gib-disk0"}),
        ),
    ] {
        let result = run(module, args);
        ok(module, &result);
        assert_eq!(result["changed"], json!(false), "{module}");
    }
    assert_eq!(
        (
            bed.count_servers_named(&vm),
            bed.ports_named_like(&vm).len(),
            bed.volumes_named_like(&vm)
        ),
        (servers_before, ports_before, volumes_before),
        "servers, ports and volumes counted before and after the re-runs"
    );
    assert_eq!((servers_before, ports_before, volumes_before), (1, 1, 2));

    // A volume the server uses cannot boot another one.
    let foreign_args = json!({"cloud": bed.cloud, "name": format!("{vm}-other"), "boot_volume": boot.id, "flavor": "m1.tiny"});
    let refused = run("create_server", foreign_args);
    failed_with("create_server", &refused, &["still attached", &server_id]);

    // Without our tag the same-named server is someone else's: not taken over, not twinned
    // (delete_server, below, deletes by name whatever made it).
    let tag_path = ["servers", server_id.as_str(), "tags", TAG];
    bed.block_on(
        client.send(Request::delete(ServiceType::Compute, &tag_path).microversion("2.26")),
    )
    .expect("remove the tag");
    let refused = run("create_server", server_args_again.clone());
    failed_with(
        "create_server",
        &refused,
        &["exists that this migration did not make", &server_id],
    );
    assert_eq!(bed.count_servers_named(&vm), 1, "no twin was made");

    // Teardown through the modules, each re-run a no-op.
    for (module, name) in [
        ("delete_server", vm.clone()),
        ("delete_port", port_id.clone()),
        ("delete_volume", format!("{vm}-2001")),
        ("delete_volume", boot.id.clone()),
    ] {
        let args = json!({"cloud": bed.cloud, "name": name});
        let would = run_check(module, args.clone());
        assert_eq!(would["changed"], json!(true), "{module} {name}: {would}");
        let deleted = run(module, args.clone());
        ok(module, &deleted);
        assert_eq!(deleted["changed"], json!(true), "{module} {name}");
        let again = run(module, args);
        ok(module, &again);
        assert_eq!(again["changed"], json!(false), "{module} {name} second run");
    }
    assert_eq!(
        (
            bed.count_servers_named(&vm),
            bed.ports_named_like(&vm).len(),
            bed.volumes_named_like(&vm)
        ),
        (0, 0, 0)
    );
}

#[test]
fn bad_input_says_what_to_fix() {
    let bed = Bed::new();
    let unknown = run(
        "volume_info",
        json!({"cloud": "no-such-cloud", "name": "x"}),
    );
    failed_with(
        "volume_info",
        &unknown,
        &["no-such-cloud", "is not in", &bed.cloud],
    );

    let twin = unique("twin");
    let mut twins = Cleanup::new(&bed);
    for _ in 0..2 {
        let volume = bed.new_volume(&twin, &[]);
        twins.add("delete_volume", &volume.id);
    }
    let ambiguous = run("volume_info", json!({"cloud": bed.cloud, "name": twin}));
    failed_with(
        "volume_info",
        &ambiguous,
        &["2 volumes are named", "give the id instead"],
    );
    drop(twins);

    let config = ConfigLoader::from_process()
        .load(Some(&CloudArg::Name(bed.cloud.clone())))
        .expect("config");
    let openstack::config::Credentials::Password { .. } = config.credentials else {
        panic!("the test bed's {} cloud uses a password", bed.cloud);
    };
    let clouds: Value = serde_norway::from_str(
        &std::fs::read_to_string(var("OS_CLIENT_CONFIG_FILE")).expect("clouds.yaml"),
    )
    .expect("yaml");
    let mut inline = clouds["clouds"][&bed.cloud].clone();
    inline["auth"]["password"] = json!("certainly-wrong");
    let wrong = run(
        "flavor_info",
        json!({"cloud": inline, "flavor_name": "m1.tiny"}),
    );
    failed_with(
        "flavor_info",
        &wrong,
        &["Keystone refused", "check the credentials"],
    );
    assert!(
        !wrong.to_string().contains("certainly-wrong"),
        "the password is never shown: {wrong}"
    );

    let missing_network = run(
        "create_server",
        json!({
            "cloud": bed.cloud, "name": unique("x"), "boot_volume": "no-such-volume", "flavor": "m1.tiny",
        }),
    );
    failed_with(
        "create_server",
        &missing_network,
        &["boot volume \"no-such-volume\" does not exist"],
    );
    let volume = bed.new_volume(&unique("boot"), &[]);
    let mut cleanup = Cleanup::new(&bed);
    cleanup.add("delete_volume", &volume.id);
    let not_bootable = run(
        "create_server",
        json!({
            "cloud": bed.cloud, "name": unique("x"), "boot_volume": volume.id, "flavor": "m1.tiny",
        }),
    );
    failed_with("create_server", &not_bootable, &["is not bootable"]);
    bed.block_on(volumes::set_bootable(&bed.client, &volume.id, true))
        .expect("bootable");
    for (nics, words) in [
        (
            json!([{"net-id": "no-such-network"}]),
            vec!["network \"no-such-network\" does not exist"],
        ),
        (
            json!([{"port": ""}]),
            vec!["element 0 has neither port-id nor net-id"],
        ),
    ] {
        let result = run(
            "create_server",
            json!({
                "cloud": bed.cloud, "name": unique("x"), "boot_volume": volume.id, "flavor": "m1.tiny", "nics": nics,
            }),
        );
        failed_with("create_server", &result, &words);
    }
    let no_flavor = run(
        "create_server",
        json!({
            "cloud": bed.cloud, "name": unique("x"), "boot_volume": volume.id, "flavor": "m9.huge",
        }),
    );
    failed_with(
        "create_server",
        &no_flavor,
        &["flavor \"m9.huge\" does not exist"],
    );
    let no_group = run(
        "create_server",
        json!({
            "cloud": bed.cloud, "name": unique("x"), "boot_volume": volume.id, "flavor": "m1.tiny", "security_groups": "no-such-group",
        }),
    );
    failed_with(
        "create_server",
        &no_group,
        &["security group \"no-such-group\" does not exist"],
    );
    // Quota: a flavor with more vCPUs than the project's cores quota (an administrator makes
    // it); Nova refuses the server before building anything.
    let dir = tempfile::tempdir().expect("tempdir");
    let greedy = unique("greedy");
    let flavors_file = dir.path().join("flavors.yml");
    std::fs::write(
        &flavors_file,
        format!("resources:\n- type: openstack.compute.Flavor\n  params: {{name: {greedy}, vcpus: 100000, ram: 512, disk: 0}}\n"),
    )
    .expect("flavors.yml");
    let created = run(
        "import_flavor",
        json!({"cloud": bed.admin_cloud, "flavors_file": flavors_file}),
    );
    ok("import_flavor", &created);
    cleanup.add(
        "delete_flavor",
        created["created_flavor"]["id"].as_str().expect("flavor id"),
    );
    let over_quota = run(
        "create_server",
        json!({
            "cloud": bed.cloud, "name": unique("x"), "boot_volume": volume.id, "flavor": greedy,
        }),
    );
    failed_with(
        "create_server",
        &over_quota,
        &["quota exceeded", "cores", "raise the project's quota"],
    );

    let absent = run(
        "delete_server",
        json!({"cloud": bed.cloud, "name": unique("absent")}),
    );
    assert_eq!(
        (absent["failed"].clone(), absent["changed"].clone()),
        (json!(false), json!(false))
    );
    let missing_file = run(
        "best_match_flavor",
        json!({"cloud": bed.cloud, "guest_info_path": "/nonexistent/guest_info.json", "disk_info_path": "/nonexistent/disk_info.json"}),
    );
    failed_with(
        "best_match_flavor",
        &missing_file,
        &["guest_info_path", "export_metadata"],
    );
}

/// What the original's documented examples say and the original ignored: `region_name:
/// regionOne` (the test bed's region is RegionOne) and `ssh_key_name: default` (a key pair that
/// need not exist). Both are warnings; the server would be made in the catalog's region without
/// a key pair (check mode: everything is resolved, nothing made).
#[test]
fn examples_region_and_missing_key_pair_are_warnings() {
    let bed = Bed::new();
    let volume = bed.new_volume(&unique("boot"), &[]);
    let mut cleanup = Cleanup::new(&bed);
    cleanup.add("delete_volume", &volume.id);
    bed.block_on(volumes::set_bootable(&bed.client, &volume.id, true))
        .expect("bootable");
    let clouds: Value = serde_norway::from_str(
        &std::fs::read_to_string(var("OS_CLIENT_CONFIG_FILE")).expect("clouds.yaml"),
    )
    .expect("yaml");
    let mut inline = clouds["clouds"][&bed.cloud].clone();
    assert_eq!(inline["region_name"], json!("RegionOne"), "{inline}");
    inline["region_name"] = json!("regionOne");
    let key = unique("no-such-key");
    let would = run_check(
        "create_server",
        json!({
            "cloud": inline, "name": unique("x"), "boot_volume": volume.id, "flavor": "m1.tiny",
            "key_name": key,
        }),
    );
    ok("create_server", &would);
    assert_eq!(would["changed"], json!(true), "{would}");
    let warnings: Vec<&str> = would["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        warnings.iter().any(
            |w| w.starts_with("argument cloud: region_name \"regionOne\"")
                && w.contains("using region \"RegionOne\"")
        ),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(&format!("key pair {key:?} does not exist"))
                && w.contains("without a key pair")),
        "{warnings:?}"
    );
}

/// Runs one module as Ansible does, with its environment changed: `unset` removed, `set` added.
fn run_in_env(module: &str, args: Value, unset: &[&str], set: &[(&str, &Path)]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let program = dir.path().join(format!("AnsiballZ_{module}"));
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_vmkit"), &program).expect("symlink");
    let args_file = dir.path().join("args");
    std::fs::write(&args_file, args.to_string()).expect("args file");
    let mut command = Command::new(&program);
    command.arg(&args_file).current_dir(dir.path());
    for name in unset {
        command.env_remove(name);
    }
    for (name, value) in set {
        command.env(name, value);
    }
    let out = command.output().expect("run module");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{module}: {e}: {}; stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_cloud_resolved_on_the_controller_works_on_a_host_without_clouds_yaml() {
    let bed = Bed::new();
    let clouds: Value = serde_norway::from_str(
        &std::fs::read_to_string(var("OS_CLIENT_CONFIG_FILE")).expect("clouds.yaml"),
    )
    .expect("clouds.yaml is YAML");
    let password = clouds["clouds"][&bed.cloud]["auth"]["password"]
        .as_str()
        .expect("the test cloud has a password")
        .to_owned();
    // What AAP's OpenStack credential writes: one cloud, `devstack`, named by nothing else.
    let controller = tempfile::tempdir().expect("tempdir");
    let aap_file = controller.path().join("aap-env-file");
    std::fs::write(
        &aap_file,
        serde_norway::to_string(&json!({"clouds": {"devstack": clouds["clouds"][&bed.cloud]}}))
            .expect("yaml"),
    )
    .expect("write");

    let refused = run_in_env(
        "resolve_cloud",
        json!({}),
        &["OS_CLOUD"],
        &[("OS_CLIENT_CONFIG_FILE", &aap_file)],
    );
    failed_with("resolve_cloud", &refused, &["no_log: true"]);

    let resolved = run_in_env(
        "resolve_cloud",
        json!({"_ansible_no_log": true}),
        &["OS_CLOUD"],
        &[("OS_CLIENT_CONFIG_FILE", &aap_file)],
    );
    ok("resolve_cloud", &resolved);
    assert_eq!(resolved["cloud_name"], "devstack");
    assert_eq!(
        resolved["cloud"]["auth"]["password"], password,
        "the password is returned, not masked: {resolved}"
    );

    // The conversion host: no clouds.yaml anywhere, no OS_* variables.
    let conversion_host = tempfile::tempdir().expect("tempdir");
    let flavor = var("VMKIT_TEST_FLAVORS")
        .split(',')
        .next()
        .expect("a flavor")
        .to_owned();
    let unset = [
        "OS_CLIENT_CONFIG_FILE",
        "OS_CLOUD",
        "OS_AUTH_URL",
        "XDG_CONFIG_HOME",
    ];
    let home = [("HOME", conversion_host.path())];
    let by_name = run_in_env(
        "flavor_info",
        json!({"cloud": "devstack", "flavor_name": flavor}),
        &unset,
        &home,
    );
    failed_with("flavor_info", &by_name, &["no clouds.yaml was found"]);
    let by_dict = run_in_env(
        "flavor_info",
        json!({"cloud": resolved["cloud"], "flavor_name": flavor}),
        &unset,
        &home,
    );
    ok("flavor_info", &by_dict);
    assert!(
        !by_dict.to_string().contains(&password),
        "the password is masked in the result of the module it was handed to: {by_dict}"
    );
    drop(bed);
}

/// Check mode writes no data file: best_match_flavor and create_network_port take the content
/// export_metadata returns instead, with the same result as from the file; a path and content
/// both, or neither, is an error naming both arguments.
#[test]
fn the_data_files_content_given_inline_plans_like_the_files() {
    let bed = Bed::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (guest, disks) = vm_files(dir.path(), 2, 4096, &[60, 40]);
    let read = |path: &Path| -> Value {
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
    };
    let from_files = run(
        "best_match_flavor",
        json!({"cloud": bed.cloud, "guest_info_path": guest, "disk_info_path": disks}),
    );
    let inline = run(
        "best_match_flavor",
        json!({"cloud": bed.cloud, "guest_info": read(&guest), "disk_info": read(&disks)}),
    );
    ok("best_match_flavor", &inline);
    assert_eq!(inline["flavor"], from_files["flavor"], "{inline}");
    let both = run(
        "best_match_flavor",
        json!({"cloud": bed.cloud, "guest_info_path": guest, "guest_info": read(&guest), "disk_info": read(&disks)}),
    );
    failed_with(
        "best_match_flavor",
        &both,
        &["guest_info_path and guest_info are mutually exclusive"],
    );
    let neither = run(
        "best_match_flavor",
        json!({"cloud": bed.cloud, "guest_info": read(&guest)}),
    );
    failed_with(
        "best_match_flavor",
        &neither,
        &["give disk_info_path", "or disk_info"],
    );
    let not_guest_info = run(
        "best_match_flavor",
        json!({"cloud": bed.cloud, "guest_info": {"hw_name": 1}, "disk_info": read(&disks)}),
    );
    failed_with(
        "best_match_flavor",
        &not_guest_info,
        &["argument guest_info", "guest_info.json"],
    );

    let vm = unique("vm");
    let nics =
        json!([{"vlan": var("VMKIT_TEST_NETWORK"), "mac": random_mac(&vm), "ipaddresses": []}]);
    let args =
        json!({"cloud": bed.cloud, "vm_name": vm, "used_mapped_networks": true, "nics": nics});
    let would = run_check("create_network_port", args.clone());
    ok("create_network_port", &would);
    assert_eq!(would["changed"], json!(true), "{would}");
    assert_eq!(
        would["ports"][0]["name"],
        json!(format!("{vm}-NIC-0-VLAN-{}", var("VMKIT_TEST_NETWORK"))),
        "{would}"
    );
    assert!(
        bed.ports_named_like(&vm).is_empty(),
        "check mode made a port"
    );
    let mut both = args;
    both["os_migrate_nics_file_path"] = json!(write_json(dir.path(), "nics.json", &nics));
    failed_with(
        "create_network_port",
        &run_check("create_network_port", both),
        &["os_migrate_nics_file_path and nics are mutually exclusive"],
    );
}
