//! The pre-flight matrix: one case per operator mistake, each against the whole test bed (a VM
//! made for the case in the vSphere simulator, the real OpenStack). Every case stops before the
//! source VM is touched (still powered on, no new snapshot, no volume, no port) and its message
//! names the playbook variable to fix. The cloud-side mistakes are caught by `validate` (what
//! the roles' plan step runs before anything else); those `migrate` can know up front are also
//! refused by `migrate` itself. Needs `scripts/testbed up; eval "$(scripts/testbed env)"`.

use std::path::{Path, PathBuf};
use std::process::Command;

use openstack::cinder::volumes;
use openstack::neutron::ports;
use openstack::{Client, CloudArg, ConfigLoader, Request, ServiceType};
use serde_json::{Value, json};
use testbed::vsphere::{HOW_TO_START, Simulator};

const MIB: u64 = 1 << 20;

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
    /// The VMs made; a run that was not refused made volumes, deleted when the test ends.
    vms: std::sync::Mutex<Vec<String>>,
}

impl Bed {
    fn new() -> Bed {
        let sim = Simulator::from_env();
        assert!(!sim.host.is_empty(), "{HOW_TO_START}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cloud = runtime.block_on(connect(&var("VMKIT_TEST_CLOUD")));
        Bed {
            sim,
            runtime,
            cloud,
            data: tempfile::tempdir().unwrap(),
            vms: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn volumes_of(&self, vm: &str) -> Vec<volumes::Volume> {
        self.runtime
            .block_on(volumes::list(
                &self.cloud,
                &volumes::ListOpts {
                    metadata: [("vmware_vm".to_owned(), vm.to_owned())].into(),
                    ..Default::default()
                },
            ))
            .unwrap()
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

    /// A running VM of the fixture schema, named uniquely, with one NIC on "VM Network".
    fn create_vm(&self, tag: &str, change: impl FnOnce(&mut Value)) -> String {
        let name = format!("pre-{tag}-{}", std::process::id());
        // Unique per VM, so no duplicate-MAC finding across runs and tests.
        let seed = name
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
        let mac = format!(
            "00:50:56:{:02x}:{:02x}:{:02x}",
            (seed >> 16) & 0x3f,
            (seed >> 8) & 0xff,
            seed & 0xff
        );
        let mut spec = json!({
            "name": name,
            "folder": "Runtime/Preflight",
            "guest_id": "rhel9_64Guest",
            "firmware": "bios",
            "cpu": {"sockets": 1, "cores_per_socket": 2},
            "memory_mib": 2048,
            "power": "on",
            "cbt": true,
            "hostname": format!("{tag}.lab.test"),
            "disks": [{"size_bytes": MIB, "controller": "pvscsi", "datastore": "datastore1",
                       "content": {"kind": "random", "seed": 7}}],
            "nics": [{"adapter": "vmxnet3", "portgroup": "VM Network", "mac": mac, "ips": ["192.0.2.50/24"]}],
        });
        change(&mut spec);
        let created = self.control("POST", "/vms/create", Some(&spec));
        assert_eq!(created["name"], json!(name), "{created}");
        self.vms.lock().unwrap().push(name.clone());
        name
    }

    fn snapshots(&self, vm: &str) -> Vec<Value> {
        self.control("GET", &format!("/snapshots?vm={vm}"), None)
            .as_array()
            .cloned()
            .unwrap_or_default()
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

    /// Nothing of `vm` was touched: still on, its snapshots as before, no volume, no port.
    fn assert_untouched(&self, vm: &str, snapshots_before: usize) {
        assert_eq!(
            self.power_state(vm),
            vsphere::vm::PowerState::PoweredOn,
            "the VM was powered off"
        );
        assert_eq!(
            self.snapshots(vm).len(),
            snapshots_before,
            "a snapshot was taken"
        );
        let volumes = self.volumes_of(vm);
        assert!(volumes.is_empty(), "a volume was created: {volumes:?}");
        let ports = self
            .runtime
            .block_on(ports::list(&self.cloud, &ports::ListOpts::default()))
            .unwrap();
        assert!(
            !ports.iter().any(|p| p.name.contains(vm)),
            "a port was created"
        );
    }

    fn vsphere_args(&self, vm: &str) -> Value {
        json!({
            "server": self.sim.host,
            "user": self.sim.user,
            "password": self.sim.password,
            "thumbprint": self.sim.thumbprint_sha256,
            "vmname": vm,
        })
    }

    /// The validate module with the destination cloud, as the roles' plan step runs it.
    fn validate(&self, vm: &str, extra: Value) -> Value {
        let mut args = self.vsphere_args(vm);
        args["vmname"] = json!([vm]);
        args["dst_cloud"] = json!(var("VMKIT_TEST_CLOUD"));
        merge(&mut args, extra);
        run_module("validate", &args, self.data.path())
    }

    fn migrate(&self, vm: &str, extra: Value) -> Value {
        let mut args = self.vsphere_args(vm);
        merge(
            &mut args,
            json!({
                "vddkpath": format!("/{}/vm/Runtime/Preflight", self.sim.datacenter),
                "dst_cloud": var("VMKIT_TEST_CLOUD"),
                "transport": "https",
                "skipconversion": true,
                "instanceuuid": var("VMKIT_TEST_CONVERSION_HOST_ID"),
                "osmdatadir": self.data.path().join("osm"),
                "poweroff_timeout": 5,
            }),
        );
        merge(&mut args, extra);
        run_module("migrate", &args, self.data.path())
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let vms = std::mem::take(&mut *self.vms.lock().unwrap_or_else(|p| p.into_inner()));
        for vm in vms {
            for volume in self.volumes_of(&vm) {
                let _ = self
                    .runtime
                    .block_on(volumes::delete(&self.cloud, &volume.id));
            }
        }
    }
}

fn merge(args: &mut Value, extra: Value) {
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
}

async fn connect(name: &str) -> Client {
    let config = ConfigLoader::from_process()
        .load(Some(&CloudArg::Name(name.to_owned())))
        .unwrap_or_else(|e| panic!("{e}; {HOW_TO_START}"));
    Client::connect(config).await.unwrap()
}

fn run_module(name: &str, args: &Value, dir: &Path) -> Value {
    let program = dir.join(format!("AnsiballZ_{name}"));
    if !program.exists() {
        std::os::unix::fs::symlink(PathBuf::from(env!("CARGO_BIN_EXE_vmkit")), &program).unwrap();
    }
    let args_file = dir.join(format!("args-{name}.json"));
    std::fs::write(&args_file, args.to_string()).unwrap();
    let out = Command::new(program).arg(args_file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {stdout:?}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The one finding with this id; its message names `variable`.
fn finding<'a>(result: &'a Value, id: &str, severity: &str, variable: &str) -> &'a Value {
    let found: Vec<&Value> = result["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("no findings: {result:#}"))
        .iter()
        .filter(|f| f["id"] == json!(id))
        .collect();
    assert_eq!(found.len(), 1, "one {id} expected: {result:#}");
    assert_eq!(found[0]["severity"], json!(severity), "{result:#}");
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.contains(variable),
        "{id} does not name {variable}: {message}"
    );
    found[0]
}

/// A refused migrate run whose message names `variable`.
fn refused(result: &Value, needle: &str, variable: &str) {
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains(needle), "{msg}");
    assert!(
        msg.contains(variable),
        "the message does not name {variable}: {msg}"
    );
}

#[test]
fn a_wrong_network_in_network_map_is_critical() {
    let bed = Bed::new();
    let vm = bed.create_vm("net", |_| {});
    let result = bed.validate(&vm, json!({"network_map": {"VM Network": "no-such-net"}}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    finding(
        &result,
        "openstack.network.missing",
        "critical",
        "network_map",
    );
    bed.assert_untouched(&vm, 0);
}

#[test]
fn a_wrong_subnet_in_network_map_is_critical() {
    let bed = Bed::new();
    let vm = bed.create_vm("subnet", |_| {});
    let target = format!("{},no-such-subnet", var("VMKIT_TEST_NETWORK"));
    let result = bed.validate(&vm, json!({"network_map": {"VM Network": target}}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    finding(
        &result,
        "openstack.subnet.missing",
        "critical",
        "network_map",
    );
    assert!(
        result["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != json!("openstack.network.missing")),
        "the network itself exists: {result:#}"
    );
    // A subnet of another network is as wrong.
    let other = format!(
        "{},{}",
        var("VMKIT_TEST_NETWORK2"),
        var("VMKIT_TEST_SUBNET_V4_ID")
    );
    let result = bed.validate(&vm, json!({"network_map": {"VM Network": other}}));
    finding(
        &result,
        "openstack.subnet.missing",
        "critical",
        "network_map",
    );
    bed.assert_untouched(&vm, 0);
}

#[test]
fn a_wrong_volume_type_is_critical_and_migrate_refuses_it() {
    let bed = Bed::new();
    let vm = bed.create_vm("vtype", |_| {});
    let mapping = json!([{"vmware_datastore": "datastore1", "openstack_type": "no-such-type"}]);
    let result = bed.validate(&vm, json!({"volume_type_mapping": mapping}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    finding(
        &result,
        "openstack.volume_type.missing",
        "critical",
        "volume_type_mapping",
    );
    let result = bed.migrate(&vm, json!({"volume_type_mapping": mapping}));
    refused(&result, "no-such-type", "volume_type_mapping");
    let result = bed.migrate(&vm, json!({"volumetype": "no-such-type"}));
    refused(&result, "no-such-type", "cinder_volume_type");
    bed.assert_untouched(&vm, 0);
}

#[test]
fn a_missing_key_pair_is_a_warning_only() {
    let bed = Bed::new();
    let vm = bed.create_vm("key", |_| {});
    let result = bed.validate(&vm, json!({"key_name": "no-such-key"}));
    assert_eq!(result["failed"], json!(false), "{result:#}");
    finding(
        &result,
        "openstack.keypair.missing",
        "warning",
        "ssh_key_name",
    );
    let result = bed.validate(&vm, json!({"key_name": var("VMKIT_TEST_KEYPAIR")}));
    assert_eq!(result["findings"], json!([]), "{result:#}");
    bed.assert_untouched(&vm, 0);
}

#[test]
fn a_missing_security_group_is_critical() {
    let bed = Bed::new();
    let vm = bed.create_vm("sg", |_| {});
    let groups = json!([var("VMKIT_TEST_SECURITY_GROUP"), "no-such-group"]);
    let result = bed.validate(&vm, json!({"security_groups": groups}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let found = finding(
        &result,
        "openstack.security_group.missing",
        "critical",
        "security_groups",
    );
    assert_eq!(found["object"], json!("no-such-group"));
    bed.assert_untouched(&vm, 0);
}

#[test]
fn an_unknown_flavor_is_critical() {
    let bed = Bed::new();
    let vm = bed.create_vm("flavor", |_| {});
    let result = bed.validate(&vm, json!({"flavor": "no-such-flavor"}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    finding(
        &result,
        "openstack.flavor.missing",
        "critical",
        "flavor_uuid",
    );
    bed.assert_untouched(&vm, 0);
}

/// Without flavor_uuid a VM gets an existing flavor that fits, else one is made for it, which
/// only an admin may do: the test bed's user is a member.
#[test]
fn a_flavor_that_cannot_be_made_is_critical() {
    let bed = Bed::new();
    let vm = bed.create_vm("mkflavor", |_| {});
    let fits = bed.validate(&vm, json!({}));
    assert_eq!(
        fits["failed"],
        json!(false),
        "an existing flavor fits: {fits:#}"
    );
    let made = bed.validate(&vm, json!({"use_existing_flavor": false}));
    assert_eq!(made["failed"], json!(true), "{made:#}");
    let found = finding(
        &made,
        "openstack.flavor.cannot_create",
        "critical",
        "flavor_admin_cloud",
    );
    let message = found["message"].as_str().unwrap();
    assert!(
        message.contains("use_existing_flavor is false"),
        "{message}"
    );
    assert!(message.contains("member"), "the user's roles: {message}");
    let huge = bed.create_vm("hugeflavor", |spec| {
        spec["cpu"] = json!({"sockets": 4, "cores_per_socket": 64});
    });
    let none_fits = bed.validate(&huge, json!({}));
    let found = finding(
        &none_fits,
        "openstack.flavor.cannot_create",
        "critical",
        "flavor_uuid",
    );
    assert!(
        found["message"].as_str().unwrap().contains("256 vCPUs"),
        "{found:#}"
    );
    let admin = bed.validate(
        &vm,
        json!({"use_existing_flavor": false, "flavor_admin_cloud": var("VMKIT_TEST_CLOUD_ADMIN")}),
    );
    assert_eq!(
        admin["failed"],
        json!(false),
        "an admin makes flavors: {admin:#}"
    );
    bed.assert_untouched(&vm, 0);
}

/// The test bed's cloud entry from clouds.yaml, as the original's inline `dst_cloud` dict.
fn cloud_dict() -> Value {
    let text = std::fs::read_to_string(var("OS_CLIENT_CONFIG_FILE")).unwrap();
    let clouds: Value = serde_norway::from_str(&text).unwrap();
    clouds["clouds"][var("VMKIT_TEST_CLOUD")].clone()
}

/// The test bed's catalog has one region: a region_name it does not know is used with a
/// warning (the original ignored region_name; issue 14's examples run unchanged). A name matching
/// nothing among several regions is `openstack.region.missing`, critical (openstack's region
/// tests cover the choice on two-region catalogs).
#[test]
fn a_wrong_region_on_a_single_region_catalog_is_a_warning() {
    let bed = Bed::new();
    let vm = bed.create_vm("region", |_| {});
    let mut cloud = cloud_dict();
    cloud["region_name"] = json!("NoSuchRegion");
    let result = bed.validate(&vm, json!({"dst_cloud": cloud}));
    assert_eq!(result["failed"], json!(false), "{result:#}");
    let found = finding(&result, "openstack.region.fallback", "warning", "dst_cloud");
    assert!(
        found["message"].as_str().unwrap().contains("NoSuchRegion"),
        "{found:#}"
    );
    bed.assert_untouched(&vm, 0);
}

/// A project of our own whose volume quota is used up (0), so no other test's quota changes;
/// deleted when the test ends.
struct ExhaustedProject {
    admin: Client,
    runtime: tokio::runtime::Runtime,
    id: String,
    name: String,
}

impl ExhaustedProject {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let admin = runtime.block_on(connect(&var("VMKIT_TEST_CLOUD_ADMIN")));
        let name = format!("vmkit-preflight-quota-{}", std::process::id());
        let user = cloud_dict()["auth"]["username"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = runtime.block_on(async {
            use ServiceType::{BlockStorage, Identity};
            let send = |request: Request| {
                let admin = admin.clone();
                async move { admin.send(request).await.unwrap().json::<Value>().unwrap() }
            };
            let created = send(Request::post(
                Identity,
                &["projects"],
                json!({"project": {"name": name, "domain_id": "default"}}),
            ))
            .await;
            let id = created["project"]["id"].as_str().unwrap().to_owned();
            let users = send(Request::get(Identity, &["users"]).query("name", user.as_str())).await;
            let user_id = users["users"][0]["id"].as_str().unwrap().to_owned();
            let roles = send(Request::get(Identity, &["roles"]).query("name", "member")).await;
            let role_id = roles["roles"][0]["id"].as_str().unwrap().to_owned();
            admin
                .send(Request::new(
                    Identity,
                    reqwest::Method::PUT,
                    &["projects", &id, "users", &user_id, "roles", &role_id],
                ))
                .await
                .unwrap();
            send(Request::put(
                BlockStorage,
                &["os-quota-sets", &id],
                json!({"quota_set": {"volumes": 0}}),
            ))
            .await;
            id
        });
        Self {
            admin,
            runtime,
            id,
            name,
        }
    }

    /// The test bed's user, scoped to this project.
    fn cloud(&self) -> Value {
        let mut cloud = cloud_dict();
        cloud["auth"]["project_name"] = json!(self.name);
        cloud
    }
}

impl Drop for ExhaustedProject {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(self.admin.send(Request::delete(
            ServiceType::BlockStorage,
            &["os-quota-sets", &self.id],
        )));
        let _ = self.runtime.block_on(self.admin.send(Request::delete(
            ServiceType::Identity,
            &["projects", &self.id],
        )));
    }
}

#[test]
fn an_exhausted_volume_quota_is_critical_and_migrate_refuses_it() {
    let bed = Bed::new();
    let project = ExhaustedProject::new();
    let vm = bed.create_vm("quota", |_| {});
    let result = bed.validate(&vm, json!({"dst_cloud": project.cloud()}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    finding(&result, "openstack.quota.volumes", "critical", "quota");
    let result = bed.migrate(&vm, json!({"dst_cloud": project.cloud()}));
    refused(&result, "openstack.quota.volumes", "vms_list");
    bed.assert_untouched(&vm, 0);
}

#[test]
fn the_vddk_transport_without_its_plugin_is_refused() {
    let bed = Bed::new();
    let vm = bed.create_vm("vddk", |_| {});
    // The test bed's nbdkit has no vddk plugin (VMware's library is not free).
    let result = bed.migrate(&vm, json!({"transport": "vddk"}));
    refused(&result, "vddk plugin", "transport");
    bed.assert_untouched(&vm, 0);
}

#[test]
fn an_rdm_disk_is_critical_and_migrate_refuses_it() {
    let bed = Bed::new();
    let vm = bed.create_vm("rdm", |spec| {
        spec["disks"].as_array_mut().unwrap().push(json!({
            "size_bytes": MIB, "controller": "pvscsi", "datastore": "datastore1",
            "rdm": "physical", "content": {"kind": "zeros"}}));
    });
    let result = bed.validate(&vm, json!({}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    finding(&result, "vmware.disk.rdm.detected", "critical", "vms_list");
    let result = bed.migrate(&vm, json!({}));
    refused(&result, "raw device mapping", "vms_list");
    bed.assert_untouched(&vm, 0);
}

#[test]
fn warm_with_an_independent_disk_is_critical_and_migrate_refuses_it() {
    let bed = Bed::new();
    let vm = bed.create_vm("indep", |spec| {
        spec["disks"].as_array_mut().unwrap().push(json!({
            "size_bytes": MIB, "controller": "pvscsi", "datastore": "datastore1",
            "mode": "independent_persistent", "content": {"kind": "zeros"}}));
    });
    let cold = bed.validate(&vm, json!({}));
    finding(
        &cold,
        "vmware.disk_mode.independent",
        "warning",
        "persistent",
    );
    let warm = bed.validate(&vm, json!({"migration_type": "warm"}));
    assert_eq!(warm["failed"], json!(true), "{warm:#}");
    finding(
        &warm,
        "vmware.disk_mode.independent",
        "critical",
        "cbt_sync",
    );
    let result = bed.migrate(&vm, json!({"cbtsync": true}));
    refused(&result, "independent disks", "cbt_sync");
    bed.assert_untouched(&vm, 0);
}

#[test]
fn warm_with_cbt_off_is_critical_unless_enable_cbt_and_migrate_refuses_it() {
    let bed = Bed::new();
    let vm = bed.create_vm("cbtoff", |spec| spec["cbt"] = json!(false));
    let warm = bed.validate(&vm, json!({"migration_type": "warm"}));
    assert_eq!(warm["failed"], json!(true), "{warm:#}");
    finding(
        &warm,
        "vmware.changed_block_tracking.disabled",
        "critical",
        "enable_cbt",
    );
    let enabling = bed.validate(&vm, json!({"migration_type": "warm", "enable_cbt": true}));
    assert_eq!(enabling["failed"], json!(false), "{enabling:#}");
    let result = bed.migrate(&vm, json!({"cbtsync": true}));
    refused(&result, "changed block tracking is off", "enable_cbt");
    bed.assert_untouched(&vm, 0);
}

#[test]
fn https_on_a_vm_with_a_snapshot_of_its_own_is_critical_and_migrate_refuses_it() {
    let bed = Bed::new();
    let vm = bed.create_vm("snap", |spec| {
        spec["snapshots"] = json!([{"name": "before-patching", "description": "theirs"}]);
    });
    let before = bed.snapshots(&vm).len();
    assert_eq!(before, 1);
    let result = bed.validate(&vm, json!({"transport": "https"}));
    assert_eq!(result["failed"], json!(true), "{result:#}");
    finding(
        &result,
        "vmware.disk.transport_unreadable",
        "critical",
        "transport",
    );
    let vddk = bed.validate(&vm, json!({"transport": "vddk"}));
    assert_eq!(
        vddk["failed"],
        json!(false),
        "vddk reads the chain: {vddk:#}"
    );
    let result = bed.migrate(&vm, json!({"transport": "https"}));
    refused(&result, "before-patching", "transport");
    bed.assert_untouched(&vm, before);
}

#[test]
fn https_on_a_vsan_disk_is_critical_and_migrate_refuses_it() {
    let bed = Bed::new();
    let vm = bed.create_vm("vsan", |spec| {
        spec["disks"][0]["datastore"] = json!("vsanDatastore");
    });
    for transport in ["https", "file"] {
        let result = bed.validate(&vm, json!({"transport": transport}));
        assert_eq!(result["failed"], json!(true), "{transport}: {result:#}");
        let found = finding(
            &result,
            "vmware.disk.transport_unreadable",
            "critical",
            "transport",
        );
        assert!(
            found["message"]
                .as_str()
                .unwrap()
                .contains("vsan datastore vsanDatastore"),
            "{found:#}"
        );
    }
    let vddk = bed.validate(&vm, json!({"transport": "vddk"}));
    assert_eq!(vddk["failed"], json!(false), "vddk reads vSAN: {vddk:#}");
    let result = bed.migrate(&vm, json!({"transport": "https"}));
    refused(&result, "vsan datastore vsanDatastore", "transport");
    bed.assert_untouched(&vm, 0);
}

#[test]
fn a_wrong_vcenter_password_names_the_variables() {
    let bed = Bed::new();
    let vm = bed.create_vm("login", |_| {});
    let result = bed.migrate(&vm, json!({"password": "not-the-password"}));
    refused(&result, "cannot log in", "vcenter_password");
    assert!(
        result["msg"].as_str().unwrap().contains("vcenter_username"),
        "{result:#}"
    );
    bed.assert_untouched(&vm, 0);
}

#[test]
fn a_wrong_availability_zone_is_critical_and_migrate_refuses_it() {
    let bed = Bed::new();
    let vm = bed.create_vm("az", |_| {});
    let result = bed.validate(
        &vm,
        json!({"volumeaz": "no-such-zone", "availability_zone": "nova"}),
    );
    assert_eq!(result["failed"], json!(true), "{result:#}");
    let found = finding(
        &result,
        "openstack.availability_zone.missing",
        "critical",
        "availability_zone",
    );
    assert!(
        found["message"].as_str().unwrap().contains("Cinder"),
        "{found:#}"
    );
    let result = bed.migrate(&vm, json!({"volumeaz": "no-such-zone"}));
    refused(&result, "no-such-zone", "availability_zone");
    bed.assert_untouched(&vm, 0);
}
