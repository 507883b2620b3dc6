//! export_metadata and validate through the real executable (as Ansible runs it) against the
//! test bed's vSphere simulator, with tests/fixtures/vms.yaml as the oracle.
//! Needs: `scripts/testbed up vsphere; eval "$(scripts/testbed env)"`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use testbed::vsphere::{FixtureVm, Fixtures, HOW_TO_START, Simulator};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vmkit"))
}

/// Runs a module as Ansible does; returns the process output and the one JSON result.
fn run_module(module: &str, args: &Value, env: &[(&str, &str)]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join(format!("AnsiballZ_{module}"));
    std::os::unix::fs::symlink(exe(), &program).unwrap();
    let args_file = dir.path().join("args");
    std::fs::write(&args_file, args.to_string()).unwrap();
    let out = Command::new(program)
        .arg(&args_file)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let value: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout:?}"));
    (out, value)
}

fn simulator() -> Simulator {
    let simulator = Simulator::from_env();
    assert!(!simulator.host.is_empty(), "{HOW_TO_START}");
    simulator
}

fn connection(sim: &Simulator) -> serde_json::Map<String, Value> {
    let Value::Object(map) = json!({
        "server": sim.host,
        "user": sim.user,
        "password": sim.password,
        "thumbprint": sim.thumbprint_sha256,
    }) else {
        unreachable!()
    };
    map
}

fn args(sim: &Simulator, extra: Value) -> Value {
    let mut map = connection(sim);
    if let Value::Object(extra) = extra {
        map.extend(extra);
    }
    Value::Object(map)
}

fn fixture_names(fixtures: &Fixtures) -> Vec<String> {
    fixtures.vms.iter().map(|vm| vm.name.clone()).collect()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rest_type(controller: &str) -> &str {
    match controller {
        "sata" => "SATA",
        "nvme" => "NVME",
        "ide" => "IDE",
        _ => "SCSI",
    }
}

/// Every field of `guest_info.json`, `disk_info.json`, `macs.json` and `network_info.json`
/// against what the fixture declared.
fn assert_export_matches(dir: &Path, vm: &FixtureVm, datacenter: &str, datastores: &[String]) {
    let name = &vm.name;
    let guest = read_json(&dir.join("guest_info.json"));
    let ctx = |what: &str| format!("{name}: {what}: {guest:#}");
    let cpus = vm.cpu.sockets * vm.cpu.cores_per_socket;
    assert_eq!(guest["hw_name"], json!(name), "{}", ctx("hw_name"));
    assert_eq!(
        guest["hw_guest_id"],
        json!(vm.guest_id),
        "{}",
        ctx("hw_guest_id")
    );
    let full_name = vm
        .guest_full_name
        .clone()
        .unwrap_or_else(|| vm.guest_id.clone());
    assert_eq!(
        guest["hw_guest_full_name"],
        json!(full_name),
        "{}",
        ctx("full name")
    );
    assert_eq!(guest["hw_processor_count"], json!(cpus), "{}", ctx("cpus"));
    assert_eq!(
        guest["hw_cores_per_socket"],
        json!(vm.cpu.cores_per_socket),
        "{}",
        ctx("cores")
    );
    assert_eq!(
        guest["hw_memtotal_mb"],
        json!(vm.memory_mib),
        "{}",
        ctx("memory")
    );
    let folder = if vm.folder.is_empty() {
        format!("/{datacenter}/vm")
    } else {
        format!("/{datacenter}/vm/{}", vm.folder)
    };
    assert_eq!(guest["hw_folder"], json!(folder), "{}", ctx("hw_folder"));
    let power = if vm.power == "on" {
        "poweredOn"
    } else {
        "poweredOff"
    };
    assert_eq!(guest["hw_power_status"], json!(power), "{}", ctx("power"));
    assert!(
        guest["moid"].as_str().is_some_and(|m| m.starts_with("vm-")),
        "{}",
        ctx("moid")
    );
    assert_eq!(
        guest["guest_consolidation_needed"],
        json!(vm.consolidation_needed),
        "{}",
        ctx("consolidation")
    );
    let home = vm
        .datastore
        .clone()
        .unwrap_or_else(|| datastores[0].clone());
    assert_eq!(
        guest["hw_files"],
        json!([format!("[{home}] {name}/{name}.vmx")]),
        "{}",
        ctx("hw_files")
    );

    // The typed reader reads back exactly what was written, `vmkit` after the `hw_ethN` keys.
    let typed = migration_data::VmDataDir::new(dir.parent().unwrap(), name)
        .unwrap()
        .read_guest_info()
        .unwrap();
    assert!(typed.vmkit.is_some(), "{}", ctx("typed vmkit"));
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        guest,
        "{}",
        ctx("typed round trip")
    );
    let text = std::fs::read_to_string(dir.join("guest_info.json")).unwrap();
    if !vm.nics.is_empty() {
        assert!(
            text.find("\"hw_eth0\"").unwrap() < text.find("\"vmkit\"").unwrap(),
            "{}",
            ctx("key order")
        );
    }
    let vmkit = &guest["vmkit"];
    assert_eq!(vmkit["firmware"], json!(vm.firmware), "{}", ctx("firmware"));
    assert_eq!(
        vmkit["secure_boot"],
        json!(vm.secure_boot),
        "{}",
        ctx("secure boot")
    );
    assert_eq!(
        vmkit["cpu"],
        json!({"count": cpus, "sockets": vm.cpu.sockets, "cores_per_socket": vm.cpu.cores_per_socket}),
        "{}",
        ctx("cpu")
    );
    assert_eq!(
        vmkit["memory_mib"],
        json!(vm.memory_mib),
        "{}",
        ctx("memory")
    );
    assert_eq!(
        vmkit["change_tracking_enabled"],
        json!(vm.cbt),
        "{}",
        ctx("cbt")
    );
    assert_eq!(
        vmkit["consolidation_needed"],
        json!(vm.consolidation_needed),
        "{}",
        ctx("consolidation")
    );
    assert_eq!(
        vmkit["guest"]["hostname"],
        json!(vm.hostname),
        "{}",
        ctx("hostname")
    );
    assert_eq!(
        vmkit["location"]["datacenter"]["name"],
        json!(datacenter),
        "{}",
        ctx("datacenter")
    );
    assert_eq!(
        vmkit["location"]["folder_path"],
        json!(folder),
        "{}",
        ctx("folder path")
    );
    assert_eq!(
        vmkit["pci_passthrough"].as_array().unwrap().len(),
        vm.devices
            .iter()
            .filter(|d| *d == "pci_passthrough")
            .count(),
        "{}",
        ctx("passthrough")
    );
    let usb = !vmkit["usb_devices"].as_array().unwrap().is_empty()
        || vmkit["controllers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "usb" || c["type"] == "usb-xhci");
    assert_eq!(usb, vm.devices.iter().any(|d| d == "usb"), "{}", ctx("usb"));
    assert_eq!(
        vmkit["tpm"],
        json!(vm.devices.iter().any(|d| d == "tpm")),
        "{}",
        ctx("tpm")
    );
    // lab-scratch is the VM other tests snapshot; its snapshots are theirs, not the fixture's.
    if name != "lab-scratch" {
        let snapshots: Vec<(String, String)> = vmkit["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_owned(),
                    s["description"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let declared: Vec<(String, String)> = vm
            .snapshots
            .iter()
            .map(|s| (s.name.clone(), s.description.clone()))
            .collect();
        assert_eq!(snapshots, declared, "{}", ctx("snapshots"));
    }

    // Disks, in order: vmkit, then disk_info.json.
    let disks = vmkit["disks"].as_array().unwrap();
    assert_eq!(disks.len(), vm.disks.len(), "{}", ctx("disk count"));
    let disk_info = read_json(&dir.join("disk_info.json"));
    let rest = disk_info["disks"].as_array().unwrap();
    assert_eq!(rest.len(), vm.disks.len(), "{name}: {disk_info:#}");
    for (i, ((disk, declared), rest)) in disks.iter().zip(&vm.disks).zip(rest).enumerate() {
        let file = if i == 0 {
            format!("[{}] {name}/{name}.vmdk", declared.datastore)
        } else {
            format!("[{}] {name}/{name}_{i}.vmdk", declared.datastore)
        };
        let what = |field: &str| format!("{name} disk {i} {field}: {disk:#}");
        assert_eq!(
            disk["capacity_bytes"],
            json!(declared.size_bytes),
            "{}",
            what("capacity")
        );
        assert_eq!(disk["file_name"], json!(file), "{}", what("file"));
        assert_eq!(
            disk["datastore"]["name"],
            json!(declared.datastore),
            "{}",
            what("datastore")
        );
        assert_eq!(
            disk["controller"]["type"],
            json!(declared.controller),
            "{}",
            what("controller")
        );
        let mode = match (&declared.rdm, &declared.mode) {
            (Some(_), _) => "independent_persistent",
            (None, Some(mode)) => mode.as_str(),
            (None, None) => "persistent",
        };
        assert_eq!(disk["mode"], json!(mode), "{}", what("mode"));
        let ctk = vm.cbt.then_some(declared.ctk.unwrap_or(true));
        assert_eq!(
            disk.get("change_tracking_enabled").cloned(),
            ctk.map(|c| json!(c)),
            "{}",
            what("ctkEnabled")
        );
        assert_eq!(
            disk["independent"],
            json!(mode.starts_with("independent")),
            "{}",
            what("independent")
        );
        let multi_writer = declared.sharing.as_deref() == Some("multi_writer");
        assert_eq!(disk["shared"], json!(multi_writer), "{}", what("sharing"));
        match &declared.rdm {
            Some(rdm) => {
                assert_eq!(disk["backing"], "rdm", "{}", what("backing"));
                assert_eq!(
                    disk["rdm"]["compatibility_mode"],
                    json!(format!("{rdm}Mode")),
                    "{}",
                    what("rdm mode")
                );
            }
            None => {
                assert_eq!(disk["backing"], "flat", "{}", what("backing"));
                assert_eq!(
                    disk["thin_provisioned"],
                    json!(declared.thin.unwrap_or(true)),
                    "{}",
                    what("thin")
                );
            }
        }
        assert_eq!(
            rest["capacity"],
            json!(declared.size_bytes),
            "{}",
            what("rest capacity")
        );
        assert_eq!(
            rest["backing"],
            json!({"type": "VMDK_FILE", "vmdk_file": file}),
            "{}",
            what("rest backing")
        );
        assert_eq!(
            rest["type"],
            json!(rest_type(&declared.controller)),
            "{}",
            what("rest type")
        );
        assert_eq!(
            rest["disk"],
            json!(disk["key"].to_string()),
            "{}",
            what("rest key")
        );
        assert_eq!(
            disk_info["disk_keys"][i],
            rest["disk"],
            "{}",
            what("disk_keys")
        );
    }

    // NICs: hw_ethN, vmkit.nics, macs.json, network_info.json.
    let nics = vmkit["nics"].as_array().unwrap();
    assert_eq!(nics.len(), vm.nics.len(), "{}", ctx("nic count"));
    assert_eq!(
        guest["hw_interfaces"],
        json!(
            (0..vm.nics.len())
                .map(|i| format!("eth{i}"))
                .collect::<Vec<_>>()
        ),
        "{}",
        ctx("hw_interfaces")
    );
    let macs = read_json(&dir.join("macs.json"));
    let network_info = read_json(&dir.join("network_info.json"));
    for (i, (nic, declared)) in nics.iter().zip(&vm.nics).enumerate() {
        let eth = &guest[format!("hw_eth{i}")];
        let what = |field: &str| format!("{name} nic {i} {field}: {eth:#} {nic:#}");
        let addresses: Vec<&str> = declared
            .ips
            .iter()
            .map(|c| c.split('/').next().unwrap())
            .collect();
        assert_eq!(eth["macaddress"], json!(declared.mac), "{}", what("mac"));
        assert_eq!(
            eth["macaddress_dash"],
            json!(declared.mac.replace(':', "-")),
            "{}",
            what("mac dash")
        );
        assert_eq!(eth["ipaddresses"], json!(addresses), "{}", what("ips"));
        assert_eq!(eth["addresstype"], "manual", "{}", what("address type"));
        assert_eq!(
            nic["adapter"],
            json!(declared.adapter),
            "{}",
            what("adapter")
        );
        assert_eq!(
            nic["network"]["name"],
            json!(declared.portgroup),
            "{}",
            what("portgroup")
        );
        let prefixes: Vec<Value> = declared
            .ips
            .iter()
            .map(|cidr| {
                let (address, prefix) = cidr.split_once('/').unwrap();
                json!({"address": address, "prefix_length": prefix.parse::<u8>().unwrap()})
            })
            .collect();
        assert_eq!(
            nic["ip_addresses"],
            json!(prefixes),
            "{}",
            what("ip prefixes")
        );
        let distributed = declared.portgroup == "dpg-prod";
        assert_eq!(
            nic["network"]["type"],
            json!(if distributed {
                "distributed"
            } else {
                "standard"
            }),
            "{}",
            what("network type")
        );
        if distributed {
            assert!(
                eth["portgroup_key"].as_str().is_some_and(|k| !k.is_empty()),
                "{}",
                what("portgroup key")
            );
        } else {
            assert_eq!(
                eth["portgroup_key"],
                Value::Null,
                "{}",
                what("portgroup key")
            );
            assert_eq!(
                eth["summary"],
                json!(declared.portgroup),
                "{}",
                what("summary")
            );
        }
        assert_eq!(
            macs[i],
            json!({"mac": declared.mac, "ipaddresses": addresses, "subnet": "sub-1"}),
            "{}",
            what("macs.json")
        );
        assert_eq!(network_info[i], *eth, "{}", what("network_info.json"));
    }
    let first_v4 = vm
        .nics
        .iter()
        .flat_map(|n| &n.ips)
        .map(|c| c.split('/').next().unwrap())
        .find(|a| !a.contains(':'));
    assert_eq!(guest["ipv4"], json!(first_v4), "{}", ctx("ipv4"));
}

#[test]
fn export_matches_the_fixture_for_every_vm_then_changes_nothing() {
    let sim = simulator();
    let fixtures = Fixtures::from_env();
    let data = tempfile::tempdir().unwrap();
    let export_args = args(
        &sim,
        json!({"vmname": fixture_names(&fixtures), "os_migrate_vmw_data_dir": data.path(), "subnet_uuid": "sub-1"}),
    );
    let (out, result) = run_module("export_metadata", &export_args, &[]);
    assert!(out.status.success(), "{result:#}");
    assert_eq!(result["changed"], true);
    assert_eq!(result["failed_vms"], json!({}));
    for vm in &fixtures.vms {
        assert_eq!(
            result["vms"][&vm.name]["files"]["guest_info.json"], "created",
            "{result:#}"
        );
        assert_export_matches(
            &data.path().join(&vm.name),
            vm,
            &fixtures.inventory.datacenter,
            &fixtures.inventory.datastores,
        );
    }
    // lab-scratch may be snapshotted by other tests meanwhile: the idempotence check leaves it out.
    let stable: Vec<String> = fixture_names(&fixtures)
        .into_iter()
        .filter(|n| n != "lab-scratch")
        .collect();
    let again = args(
        &sim,
        json!({"vmname": stable, "os_migrate_vmw_data_dir": data.path(), "subnet_uuid": "sub-1"}),
    );
    let (out, result) = run_module("export_metadata", &again, &[]);
    assert!(out.status.success(), "{result:#}");
    assert_eq!(result["changed"], false, "{result:#}");
}

#[test]
fn export_from_a_standalone_esxi_host_matches_its_fixture() {
    let host = Simulator::esxi_from_env();
    let fixtures = Fixtures::esxi_from_env();
    let data = tempfile::tempdir().unwrap();
    let (out, result) = run_module(
        "export_metadata",
        &args(
            &host,
            json!({"vmname": fixture_names(&fixtures), "os_migrate_vmw_data_dir": data.path(), "subnet_uuid": "sub-1"}),
        ),
        &[],
    );
    assert!(out.status.success(), "{result:#}");
    assert_eq!(result["failed_vms"], json!({}));
    for vm in &fixtures.vms {
        assert_export_matches(
            &data.path().join(&vm.name),
            vm,
            &fixtures.inventory.datacenter,
            &fixtures.inventory.datastores,
        );
        let guest = read_json(&data.path().join(&vm.name).join("guest_info.json"));
        assert_eq!(guest["hw_folder"], json!("/ha-datacenter/vm"), "{guest:#}");
    }
}

#[test]
fn check_mode_writes_nothing_and_says_what_would_change() {
    let sim = simulator();
    let data = tempfile::tempdir().unwrap();
    let mut export_args = args(
        &sim,
        json!({"vmname": "lab-linux-bios", "os_migrate_vmw_data_dir": data.path()}),
    );
    export_args["_ansible_check_mode"] = json!(true);
    let (out, result) = run_module("export_metadata", &export_args, &[]);
    assert!(out.status.success(), "{result:#}");
    assert_eq!(result["changed"], true);
    assert_eq!(
        result["vms"]["lab-linux-bios"]["files"]["guest_info.json"],
        "created"
    );
    assert_eq!(
        std::fs::read_dir(data.path()).unwrap().count(),
        0,
        "check mode wrote files"
    );

    // What check mode returns inline is what a real run writes, file by file; a real run's
    // result does not carry it.
    let metadata = result["vms"]["lab-linux-bios"]["metadata"]
        .as_object()
        .unwrap_or_else(|| panic!("no metadata in check mode: {result:#}"));
    export_args["_ansible_check_mode"] = json!(false);
    let (out, written) = run_module("export_metadata", &export_args, &[]);
    assert!(out.status.success(), "{written:#}");
    assert!(
        written["vms"]["lab-linux-bios"].get("metadata").is_none(),
        "{written:#}"
    );
    let files = written["vms"]["lab-linux-bios"]["files"]
        .as_object()
        .unwrap();
    assert_eq!(
        metadata.keys().collect::<Vec<_>>(),
        files.keys().collect::<Vec<_>>()
    );
    for (file, content) in metadata {
        assert_eq!(
            &read_json(&data.path().join("lab-linux-bios").join(file)),
            content,
            "{file}"
        );
    }
}

#[test]
fn network_map_writes_nics_json_by_key_name_or_summary_and_drops_the_rest() {
    let sim = simulator();
    let data = tempfile::tempdir().unwrap();
    let export_args = args(
        &sim,
        json!({
            "vmname": ["lab-multi-nic", "lab-linux-bios"],
            "os_migrate_vmw_data_dir": data.path(),
            "network_map": {"VM Network": "net-a", "dpg-prod": "net-b,subnet-b"},
        }),
    );
    let (out, result) = run_module("export_metadata", &export_args, &[]);
    assert!(out.status.success(), "{result:#}");
    let nics = read_json(&data.path().join("lab-multi-nic/nics.json"));
    assert_eq!(
        nics,
        json!([
            {"vlan": "net-a", "mac": "00:50:56:01:00:03", "ipaddresses": ["192.0.2.31", "2001:db8:0:1::31"]},
            {"vlan": "net-b", "subnet": "subnet-b", "mac": "00:50:56:01:00:04", "ipaddresses": ["198.51.100.31", "2001:db8:0:2::31"]},
        ])
    );
    assert!(!data.path().join("lab-multi-nic/macs.json").exists());
    // By distributed portgroup key, as the original keys it; the unmapped NIC is dropped.
    let guest = read_json(&data.path().join("lab-multi-nic/guest_info.json"));
    let key = guest["hw_eth1"]["portgroup_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_key = args(
        &sim,
        json!({"vmname": "lab-multi-nic", "os_migrate_vmw_data_dir": data.path(), "network_map": {key: "net-c"}}),
    );
    let (out, result) = run_module("export_metadata", &by_key, &[]);
    assert!(out.status.success(), "{result:#}");
    let nics = read_json(&data.path().join("lab-multi-nic/nics.json"));
    assert_eq!(
        nics,
        json!([{"vlan": "net-c", "mac": "00:50:56:01:00:04", "ipaddresses": ["198.51.100.31", "2001:db8:0:2::31"]}])
    );
    // A VM none of whose NICs is mapped fails, naming its networks; the other VM still exports.
    let unmapped = args(
        &sim,
        json!({"vmname": ["lab-linux-bios", "lab-windows-efi"], "os_migrate_vmw_data_dir": data.path(), "network_map": {"dpg-prod": "net-b"}}),
    );
    let (out, result) = run_module("export_metadata", &unmapped, &[]);
    assert!(!out.status.success());
    assert!(
        result["failed_vms"]["lab-linux-bios"]
            .as_str()
            .unwrap()
            .contains("VM Network"),
        "{result:#}"
    );
    assert!(result["vms"]["lab-windows-efi"].is_object(), "{result:#}");
}

#[test]
fn a_folder_selects_every_vm_under_it() {
    let sim = simulator();
    let data = tempfile::tempdir().unwrap();
    let export_args = args(
        &sim,
        json!({"folder": "Production", "os_migrate_vmw_data_dir": data.path()}),
    );
    let (out, result) = run_module("export_metadata", &export_args, &[]);
    assert!(out.status.success(), "{result:#}");
    let names: Vec<&String> = result["vms"].as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["lab-linux-bios", "lab-multi-nic", "lab-windows-efi"]
    );
}

#[test]
fn an_unknown_vm_fails_by_name_and_the_others_are_exported() {
    let sim = simulator();
    let data = tempfile::tempdir().unwrap();
    let export_args = args(
        &sim,
        json!({"vmname": ["no-such-vm", "lab-linux-bios"], "os_migrate_vmw_data_dir": data.path()}),
    );
    let (out, result) = run_module("export_metadata", &export_args, &[]);
    assert!(!out.status.success());
    assert_eq!(result["failed"], true);
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("no-such-vm") && msg.contains("1 of 2"),
        "{msg}"
    );
    assert!(data.path().join("lab-linux-bios/guest_info.json").is_file());
}

#[test]
fn wrong_password_and_wrong_thumbprint_are_clear_errors() {
    let sim = simulator();
    let data = tempfile::tempdir().unwrap();
    let mut bad_password = args(
        &sim,
        json!({"vmname": "lab-linux-bios", "os_migrate_vmw_data_dir": data.path()}),
    );
    bad_password["password"] = json!("not-the-password");
    let (out, result) = run_module("export_metadata", &bad_password, &[]);
    assert!(!out.status.success());
    let msg = result["msg"].as_str().unwrap();
    assert!(
        msg.contains("'user' and 'password'") && msg.contains(&sim.user),
        "{msg}"
    );

    let mut bad_pin = args(
        &sim,
        json!({"vmname": "lab-linux-bios", "os_migrate_vmw_data_dir": data.path()}),
    );
    bad_pin["thumbprint"] = json!("00".repeat(32));
    let (out, result) = run_module("export_metadata", &bad_pin, &[]);
    assert!(!out.status.success());
    let msg = result["msg"].as_str().unwrap();
    assert!(msg.contains("thumbprint"), "{msg}");
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);

    let mut contradictory = args(
        &sim,
        json!({"vmname": "lab-linux-bios", "os_migrate_vmw_data_dir": data.path()}),
    );
    contradictory["vmware_insecure"] = json!(true);
    let (out, result) = run_module("export_metadata", &contradictory, &[]);
    assert!(!out.status.success());
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .contains("at most one of thumbprint"),
        "{result:#}"
    );
}

#[test]
fn validate_certs_is_the_inverse_of_vmware_insecure() {
    let sim = simulator();
    let data = tempfile::tempdir().unwrap();
    let mut unpinned = args(
        &sim,
        json!({"vmname": "lab-linux-bios", "os_migrate_vmw_data_dir": data.path()}),
    );
    unpinned.as_object_mut().unwrap().remove("thumbprint");
    // The simulator's certificate is self-signed: verified by default, refused.
    let (out, result) = run_module("export_metadata", &unpinned, &[]);
    assert!(!out.status.success(), "{result:#}");
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .contains("cannot log in to vSphere"),
        "{result:#}"
    );
    unpinned["validate_certs"] = json!(false);
    let (out, result) = run_module("export_metadata", &unpinned, &[]);
    assert!(out.status.success(), "{result:#}");
    unpinned["validate_certs"] = json!(true);
    unpinned["vmware_insecure"] = json!(true);
    let (out, result) = run_module("export_metadata", &unpinned, &[]);
    assert!(!out.status.success());
    assert!(
        result["msg"].as_str().unwrap().contains("contradict"),
        "{result:#}"
    );
}

/// As AAP's VMware vCenter credential gives them: VMWARE_HOST, VMWARE_USER, VMWARE_PASSWORD and
/// VMWARE_VALIDATE_CERTS (False) in the environment, nothing in the task; a task's own option wins.
#[test]
fn the_vmware_environment_variables_stand_in_for_the_options() {
    let sim = simulator();
    let data = tempfile::tempdir().unwrap();
    let task = json!({"vmname": "lab-linux-bios", "os_migrate_vmw_data_dir": data.path()});
    let env = [
        ("VMWARE_HOST", sim.host.as_str()),
        ("VMWARE_USER", sim.user.as_str()),
        ("VMWARE_PASSWORD", sim.password.as_str()),
        ("VMWARE_VALIDATE_CERTS", "False"),
    ];
    let (out, result) = run_module("export_metadata", &task, &env);
    assert!(out.status.success(), "{result:#}");
    assert_eq!(
        result["invocation"]["module_args"]["password"], "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER",
        "{result:#}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(sim.password.as_str()), "{stdout}");

    let mut wrong_password = task.clone();
    wrong_password["password"] = json!("not-the-password-1");
    let (out, result) = run_module("export_metadata", &wrong_password, &env);
    assert!(
        !out.status.success(),
        "the task's password wins: {result:#}"
    );

    let (out, result) = run_module("export_metadata", &task, &env[..3]);
    assert!(
        !out.status.success(),
        "without VMWARE_VALIDATE_CERTS the self-signed certificate is refused: {result:#}"
    );
    let (_, result) = run_module("export_metadata", &task, &[]);
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .contains("server (or the environment variable VMWARE_HOST)"),
        "{result:#}"
    );
}

/// The password is a sentinel: it must not appear on stdout or stderr, at the most verbose log
/// level, whether the login works (module and CLI) or fails.
#[test]
fn the_password_never_appears_in_output_or_logs() {
    let sim = simulator();
    let data = tempfile::tempdir().unwrap();
    let trace = [("VMKIT_LOG", "trace")];
    let ok = args(
        &sim,
        json!({"vmname": ["lab-linux-bios", "nope"], "os_migrate_vmw_data_dir": data.path()}),
    );
    let (out, _) = run_module("export_metadata", &ok, &trace);
    let sentinel = "Sentinel-Pw-4f1c9e";
    let mut wrong = ok.clone();
    wrong["password"] = json!(sentinel);
    let (wrong_out, _) = run_module("export_metadata", &wrong, &trace);
    let validate_args = args(&sim, json!({"vmname": ["lab-linux-bios"]}));
    let (validate_out, _) = run_module("validate", &validate_args, &trace);
    for (secret, output) in [
        (&sim.password, &out),
        (&sentinel.to_owned(), &wrong_out),
        (&sim.password, &validate_out),
    ] {
        for stream in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(
                !text.contains(secret.as_str()),
                "the password appeared: {text}"
            );
        }
    }
    assert!(!String::from_utf8_lossy(&wrong_out.stderr).is_empty() || !wrong_out.stdout.is_empty());

    // The CLI takes the password from the environment, never from its arguments.
    let cli = Command::new(exe())
        .args([
            "-vvv",
            "inventory",
            "--server",
            &sim.host,
            "--user",
            &sim.user,
            "--thumbprint",
            &sim.thumbprint_sha1,
        ])
        .args(["--vm", "lab-linux-bios", "--data-dir"])
        .arg(data.path())
        .env("VMKIT_VSPHERE_PASSWORD", &sim.password)
        .env("VMKIT_LOG", "trace")
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    for stream in [&cli.stdout, &cli.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(&sim.password));
    }
    assert!(String::from_utf8_lossy(&cli.stdout).starts_with("lab-linux-bios\tvm-"));
}

/// The expected finding of each planted problem (warm migration, so CBT counts, and what a warm
/// migrate would refuse is critical).
fn planted() -> BTreeMap<&'static str, Vec<(&'static str, &'static str)>> {
    BTreeMap::from([
        (
            "bad-passthrough",
            vec![("vmware.passthrough_device.detected", "critical")],
        ),
        (
            "bad-sriov",
            vec![("vmware.device.sriov.detected", "warning")],
        ),
        (
            "bad-usb",
            vec![("vmware.usb_controller.detected", "warning")],
        ),
        ("bad-tpm", vec![("vmware.tpm.detected", "warning")]),
        ("bad-rdm", vec![("vmware.disk.rdm.detected", "critical")]),
        (
            "bad-shared-disk",
            vec![("vmware.disk.shared.detected", "warning")],
        ),
        (
            "bad-independent-disk",
            vec![("vmware.disk_mode.independent", "critical")],
        ),
        (
            "bad-existing-snapshot",
            vec![("vmware.snapshot.detected", "information")],
        ),
        (
            "bad-consolidation",
            vec![("vmware.consolidation_needed", "warning")],
        ),
        (
            "bad-cbt-off",
            vec![("vmware.changed_block_tracking.disabled", "critical")],
        ),
        (
            "bad-disk-cbt-off",
            vec![("vmware.changed_block_tracking.disk.disabled", "warning")],
        ),
        (
            "bad-no-guest-ips",
            vec![("vmware.vm_missing_ip.detected", "warning")],
        ),
        ("bad-dup-mac-a", vec![("vmware.mac.duplicate", "critical")]),
        ("bad-dup-mac-b", vec![("vmware.mac.duplicate", "critical")]),
        (
            "bad-unsupported-os",
            vec![("vmware.os.unsupported", "warning")],
        ),
    ])
}

#[test]
fn validate_flags_each_planted_problem_exactly_and_nothing_on_clean_vms() {
    let sim = simulator();
    let fixtures = Fixtures::from_env();
    // lab-scratch is left out: other tests snapshot it.
    let names: Vec<String> = fixture_names(&fixtures)
        .into_iter()
        .filter(|n| n != "lab-scratch")
        .collect();
    let (out, result) = run_module(
        "validate",
        &args(
            &sim,
            json!({"vmname": names, "migration_type": "warm", "fail_on": "never"}),
        ),
        &[],
    );
    assert!(out.status.success(), "{result:#}");
    let mut found: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for f in result["findings"].as_array().unwrap() {
        assert!(
            !f["message"].as_str().unwrap().is_empty() && !f["object"].as_str().unwrap().is_empty(),
            "{f}"
        );
        found
            .entry(f["vm"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                f["id"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
            ));
    }
    let expected: BTreeMap<String, Vec<(String, String)>> = planted()
        .into_iter()
        .map(|(vm, ids)| {
            (
                vm.to_owned(),
                ids.into_iter()
                    .map(|(i, s)| (i.to_owned(), s.to_owned()))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(found, expected, "{result:#}");
    assert_eq!(
        result["summary"],
        json!({"critical": 6, "warning": 8, "information": 1})
    );
}

#[test]
fn validate_fail_on_and_skip_rules() {
    let sim = simulator();
    let plan = json!({"vmname": ["bad-passthrough", "bad-tpm", "lab-linux-bios"]});
    let (out, result) = run_module("validate", &args(&sim, plan.clone()), &[]);
    assert!(
        !out.status.success(),
        "critical fails by default: {result:#}"
    );
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .contains("bad-passthrough vmware.passthrough_device.detected"),
        "{result:#}"
    );

    let mut skipping = args(&sim, plan.clone());
    skipping["skip_rules"] = json!(["vmware.passthrough_device.detected"]);
    let (out, result) = run_module("validate", &skipping, &[]);
    assert!(out.status.success(), "{result:#}");
    skipping["fail_on"] = json!("warning");
    let (out, result) = run_module("validate", &skipping, &[]);
    assert!(
        !out.status.success(),
        "the TPM warning fails with fail_on: warning: {result:#}"
    );

    let mut unknown = args(&sim, plan);
    unknown["skip_rules"] = json!(["vmware.no_such_rule"]);
    let (out, result) = run_module("validate", &unknown, &[]);
    assert!(!out.status.success());
    assert!(
        result["msg"]
            .as_str()
            .unwrap()
            .contains("vmware.no_such_rule"),
        "{result:#}"
    );
}

#[test]
fn validate_reports_unmapped_networks_and_datastores_when_maps_are_given() {
    let sim = simulator();
    let (out, result) = run_module(
        "validate",
        &args(
            &sim,
            json!({
                "vmname": ["lab-multi-nic"],
                "network_map": {"VM Network": "net-a"},
                "volume_type_mapping": [{"vmware_datastore": "datastore2", "openstack_type": "fast"}],
                "fail_on": "never",
            }),
        ),
        &[],
    );
    assert!(out.status.success(), "{result:#}");
    let ids: Vec<&str> = result["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "vmware.network.unmapped",
            "vmware.datastore.unmapped",
            "vmware.datastore.unmapped"
        ],
        "{result:#}"
    );
}

/// vm_power on a VM made for the test: check mode changes nothing, each state is reached once
/// (a second call changes nothing), and the folder finds it.
#[test]
fn vm_power_reaches_each_state_once_and_check_mode_changes_nothing() {
    let sim = simulator();
    let name = format!("power-{}", std::process::id());
    let spec = json!({
        "name": name, "folder": "Runtime/Power", "guest_id": "rhel9_64Guest", "firmware": "bios",
        "cpu": {"sockets": 1, "cores_per_socket": 1}, "memory_mib": 512, "power": "on", "cbt": false,
        "disks": [{"size_bytes": 1048576, "controller": "pvscsi", "datastore": "datastore1",
                   "content": {"kind": "zeros"}}],
        "nics": [],
    });
    let out = Command::new("curl")
        .args(["-sSf", "-X", "POST", &format!("{}/vms/create", sim.control)])
        .args(["-d", &spec.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let power = |state: &str, check: bool| {
        let (_, result) = run_module(
            "vm_power",
            &args(
                &sim,
                json!({"vm_name": name, "folder": format!("/{}/vm/Runtime/Power", sim.datacenter),
                       "state": state, "_ansible_check_mode": check}),
            ),
            &[],
        );
        assert_eq!(result["failed"], json!(false), "{result:#}");
        (result["changed"].clone(), result["power_state"].clone())
    };
    assert_eq!(
        power("powered-off", true),
        (json!(true), json!("poweredOn"))
    );
    assert_eq!(
        power("powered-on", false),
        (json!(false), json!("poweredOn"))
    );
    assert_eq!(
        power("powered-off", false),
        (json!(true), json!("poweredOff"))
    );
    assert_eq!(
        power("powered-off", false),
        (json!(false), json!("poweredOff"))
    );
    assert_eq!(
        power("powered-on", false),
        (json!(true), json!("poweredOn"))
    );
}
