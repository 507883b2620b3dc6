//! Integration tests against the test bed's vSphere simulator (tests/vcsim), with
//! tests/fixtures/vms.yaml as the oracle. Start it first:
//! `scripts/testbed up vsphere; eval "$(scripts/testbed env)"`.

mod support;

use std::collections::HashMap;

use base64::Engine;
use std::time::Duration;

use support::{FixtureVm, fixtures, testbed};
use vsphere::datastore::{DatastorePath, datastore_file_url};
use vsphere::device::{DiskBacking, NicNetwork};
use vsphere::finder::{self, VmSelector};
use vsphere::snapshot::{self, CreateSnapshot};
use vsphere::vm::{Firmware, PowerState};
use vsphere::{Client, Error, FaultKind, MoRef, TlsMode, VirtualMachine, cbt, power, vm};

async fn vm_named(client: &Client, name: &str) -> VirtualMachine {
    let moref = finder::find_by_name(client, name).await.expect(name);
    vm::get(client, &moref).await.expect(name)
}

fn assert_matches_fixture(vm: &VirtualMachine, fixture: &FixtureVm, datacenter: &str) {
    let name = &fixture.name;
    let folder = if fixture.folder.is_empty() {
        format!("/{datacenter}/vm")
    } else {
        format!("/{datacenter}/vm/{}", fixture.folder)
    };
    assert_eq!(
        vm.location.folder_path.as_deref(),
        Some(folder.as_str()),
        "{name} folder"
    );
    assert_eq!(
        vm.location.datacenter.as_ref().map(|d| d.name.as_str()),
        Some(datacenter),
        "{name} datacenter"
    );
    assert_eq!(vm.location.datacenter_path.as_deref(), Some(datacenter));
    assert!(vm.location.host.is_some(), "{name} host");
    assert!(vm.location.resource_pool.is_some(), "{name} resource pool");
    assert!(
        vm.location.compute_resource.is_some(),
        "{name} compute resource"
    );
    assert_eq!(
        vm.guest_id.as_deref(),
        Some(fixture.guest_id.as_str()),
        "{name} guest id"
    );
    let full_name = fixture
        .guest_full_name
        .as_deref()
        .unwrap_or(&fixture.guest_id);
    assert_eq!(
        vm.guest_full_name.as_deref(),
        Some(full_name),
        "{name} guest full name"
    );
    let firmware = match fixture.firmware.as_str() {
        "efi" => Firmware::Efi,
        _ => Firmware::Bios,
    };
    assert_eq!(vm.firmware, firmware, "{name} firmware");
    assert_eq!(vm.secure_boot, fixture.secure_boot, "{name} secure boot");
    assert_eq!(vm.cpu.sockets, fixture.cpu.sockets, "{name} sockets");
    assert_eq!(
        vm.cpu.cores_per_socket, fixture.cpu.cores_per_socket,
        "{name} cores"
    );
    assert_eq!(
        vm.cpu.count,
        fixture.cpu.sockets * fixture.cpu.cores_per_socket
    );
    assert_eq!(vm.memory_mb, fixture.memory_mib, "{name} memory");
    let power = if fixture.power == "on" {
        PowerState::PoweredOn
    } else {
        PowerState::PoweredOff
    };
    assert_eq!(vm.power_state, power, "{name} power");
    assert_eq!(vm.change_tracking_enabled, fixture.cbt, "{name} cbt");
    assert_eq!(vm.hostname, fixture.hostname, "{name} hostname");
    assert_eq!(
        vm.consolidation_needed, fixture.consolidation_needed,
        "{name} consolidation"
    );
    assert!(
        vm.bios_uuid.is_some() && vm.instance_uuid.is_some(),
        "{name} uuids"
    );
    let home = fixture
        .datastore
        .clone()
        .unwrap_or_else(|| "datastore1".into());
    assert!(
        vm.vm_path_name
            .as_deref()
            .is_some_and(|p| p.starts_with(&format!("[{home}]"))),
        "{name} home {:?}",
        vm.vm_path_name
    );
    assert_eq!(
        vm.pci_passthrough().count(),
        fixture
            .devices
            .iter()
            .filter(|d| *d == "pci_passthrough")
            .count(),
        "{name} passthrough"
    );
    assert_eq!(
        vm.usb_devices().count(),
        fixture.devices.iter().filter(|d| *d == "usb").count(),
        "{name} usb"
    );
    assert_eq!(
        vm.has_tpm(),
        fixture.devices.iter().any(|d| d == "tpm"),
        "{name} tpm"
    );
    // The declared snapshots come first; tests of other crates may add theirs after them.
    let snapshot_names: Vec<_> = vm.all_snapshots().iter().map(|s| s.name.clone()).collect();
    let expected_names: Vec<_> = fixture.snapshots.iter().map(|s| s.name.clone()).collect();
    assert!(
        snapshot_names.starts_with(&expected_names),
        "{name} snapshots {snapshot_names:?}"
    );
    for (node, expected) in vm.all_snapshots().iter().zip(&fixture.snapshots) {
        assert_eq!(node.description, expected.description);
    }
    if !fixture.snapshots.is_empty() {
        assert!(vm.current_snapshot.is_some(), "{name} current snapshot");
    }

    let disks: Vec<_> = vm.disks().collect();
    assert_eq!(disks.len(), fixture.disks.len(), "{name} disk count");
    for (index, (disk, expected)) in disks.iter().zip(&fixture.disks).enumerate() {
        let what = format!("{name} disk {index}");
        assert_eq!(disk.capacity_bytes, expected.size_bytes, "{what} capacity");
        let controller = disk
            .controller
            .as_ref()
            .unwrap_or_else(|| panic!("{what} controller"));
        assert_eq!(
            controller.kind.name(),
            expected.controller,
            "{what} controller type"
        );
        assert!(controller.bus_number.is_some(), "{what} bus");
        assert!(disk.unit_number.is_some(), "{what} unit");
        let datastore = disk
            .datastore
            .as_ref()
            .unwrap_or_else(|| panic!("{what} datastore"));
        assert_eq!(
            datastore.name.as_deref(),
            Some(expected.datastore.as_str()),
            "{what} datastore"
        );
        let file = if index == 0 {
            format!("{name}.vmdk")
        } else {
            format!("{name}_{index}.vmdk")
        };
        assert_eq!(
            disk.file_name.as_deref(),
            Some(format!("[{}] {name}/{file}", expected.datastore).as_str()),
            "{what} file"
        );
        // The simulator, like vSphere for raw device mappings, reports RDMs as independent.
        let default_mode = if expected.rdm.is_some() {
            "independent_persistent"
        } else {
            "persistent"
        };
        let mode = expected.mode.as_deref().unwrap_or(default_mode);
        assert_eq!(
            disk.disk_mode.as_ref().map(|m| m.as_wire()),
            Some(mode),
            "{what} mode"
        );
        assert_eq!(
            disk.is_independent(),
            mode.starts_with("independent"),
            "{what} independent"
        );
        assert_eq!(
            disk.is_shared(),
            expected.sharing.as_deref() == Some("multi_writer"),
            "{what} sharing"
        );
        match (&disk.backing, &expected.rdm) {
            (
                DiskBacking::RawDiskMapping {
                    compatibility_mode, ..
                },
                Some(rdm),
            ) => {
                assert_eq!(
                    compatibility_mode.as_deref(),
                    Some(format!("{rdm}Mode").as_str()),
                    "{what} rdm"
                );
            }
            (
                DiskBacking::Flat {
                    thin_provisioned, ..
                },
                None,
            ) => {
                assert_eq!(
                    *thin_provisioned,
                    Some(expected.thin.unwrap_or(true)),
                    "{what} thin"
                );
            }
            (backing, rdm) => panic!("{what}: backing {backing:?} but fixture rdm {rdm:?}"),
        }
        // A VM that never had CBT has no ctkEnabled keys; with CBT every disk has one.
        assert_eq!(
            disk.change_tracking_enabled,
            fixture.cbt.then_some(expected.ctk.unwrap_or(true)),
            "{what} ctkEnabled"
        );
        if fixture.cbt && expected.rdm.is_none() && !fixture.snapshots.is_empty() {
            assert!(disk.change_id.is_some(), "{what} change id");
        }
    }

    let nics: Vec<_> = vm.nics().collect();
    assert_eq!(nics.len(), fixture.nics.len(), "{name} nic count");
    let mut first_ipv4 = None;
    for (index, (nic, expected)) in nics.iter().zip(&fixture.nics).enumerate() {
        let what = format!("{name} nic {index}");
        assert_eq!(nic.adapter.name(), expected.adapter, "{what} adapter");
        assert_eq!(
            nic.mac_address.as_deref(),
            Some(expected.mac.as_str()),
            "{what} mac"
        );
        assert_eq!(
            nic.address_type.as_deref(),
            Some("manual"),
            "{what} address type"
        );
        match &nic.network {
            NicNetwork::Standard {
                name: portgroup, ..
            } => assert_eq!(portgroup, &expected.portgroup, "{what}"),
            NicNetwork::Distributed {
                name: portgroup,
                portgroup_key,
                switch_uuid,
                ..
            } => {
                assert_eq!(
                    portgroup.as_deref(),
                    Some(expected.portgroup.as_str()),
                    "{what} dvpg name"
                );
                assert!(
                    portgroup_key.is_some() && switch_uuid.is_some(),
                    "{what} dvpg key"
                );
            }
            other => panic!("{what}: network {other:?}"),
        }
        let guest = vm.guest_nic_of(nic);
        if expected.ips.is_empty() {
            assert!(
                guest.is_none_or(|g| g.ip_addresses.is_empty()),
                "{what} has no IPs"
            );
            continue;
        }
        let guest = guest.unwrap_or_else(|| panic!("{what} guest nic"));
        let ips: Vec<String> = guest
            .ip_addresses
            .iter()
            .map(|ip| format!("{}/{}", ip.address, ip.prefix_length.unwrap_or(0)))
            .collect();
        assert_eq!(ips, expected.ips, "{what} ips");
        assert_eq!(
            guest.network.as_deref(),
            Some(expected.portgroup.as_str()),
            "{what} guest network"
        );
        if first_ipv4.is_none() {
            first_ipv4 = guest
                .ip_addresses
                .iter()
                .find(|ip| !ip.is_ipv6())
                .map(|ip| ip.address.clone());
        }
    }
    assert_eq!(vm.primary_ip, first_ipv4, "{name} primary ip");
    let tools_expected = fixture.power == "on" && fixture.nics.iter().any(|n| !n.ips.is_empty());
    assert_eq!(
        vm.tools.running_status.as_deref() == Some("guestToolsRunning"),
        tools_expected,
        "{name} tools {:?}",
        vm.tools
    );
    if tools_expected {
        assert_eq!(
            vm.tools_guest_id.as_deref(),
            Some(fixture.guest_id.as_str()),
            "{name} tools guest id"
        );
    }
}

#[tokio::test]
async fn every_fixture_vm_reads_as_declared_in_one_round_trip() {
    let _scratch = support::SCRATCH_VM.lock().await;
    let bed = testbed();
    let fixtures = fixtures();
    let client = bed.connect().await;
    assert!(client.about().is_vcenter());
    let all = vm::list(&client).await.expect("list VMs");
    let by_name: HashMap<&str, &VirtualMachine> =
        all.iter().map(|v| (v.name.as_str(), v)).collect();
    for fixture in &fixtures.vms {
        let listed = by_name
            .get(fixture.name.as_str())
            .unwrap_or_else(|| panic!("{} not listed", fixture.name));
        assert_matches_fixture(listed, fixture, &fixtures.inventory.datacenter);
        // The one-VM read (upward traversal) builds the same model as the inventory walk.
        let single = vm::get(&client, &listed.moref).await.expect(&fixture.name);
        assert_eq!(&single, *listed, "{}: get and list differ", fixture.name);
        let json = serde_json::to_value(&single).unwrap();
        let disks = json["devices"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "disk");
        assert_eq!(disks.count(), fixture.disks.len(), "{} JSON", fixture.name);
    }
    // Several chosen VMs in one call, in the order asked (here: reversed fixture order).
    let wanted: Vec<MoRef> = fixtures
        .vms
        .iter()
        .rev()
        .map(|f| by_name[f.name.as_str()].moref.clone())
        .collect();
    let many = vm::get_many(&client, &wanted).await.unwrap();
    assert_eq!(
        many.iter().map(|m| m.moref.clone()).collect::<Vec<_>>(),
        wanted
    );
    for machine in &many {
        assert_eq!(
            machine,
            by_name[machine.name.as_str()],
            "{}: get_many and list differ",
            machine.name
        );
    }
    let missing = vm::get_many(&client, &[MoRef::virtual_machine("vm-does-not-exist")]).await;
    assert!(matches!(missing, Err(Error::VmNotFound(_))), "{missing:?}");
}

#[tokio::test]
async fn chosen_properties_of_every_vm_in_one_call() {
    let bed = testbed();
    let client = bed.connect().await;
    let (vms, inventory) =
        vm::list_properties(&client, &["name", "config.hardware.memoryMB", "parent"])
            .await
            .unwrap();
    let fixtures = fixtures();
    for fixture in &fixtures.vms {
        let content = vms
            .iter()
            .find(|o| o.text("name") == Some(fixture.name.as_str()))
            .expect(&fixture.name);
        assert_eq!(
            content.text("config.hardware.memoryMB"),
            Some(fixture.memory_mib.to_string().as_str())
        );
        let parent = content.moref("parent").unwrap().unwrap();
        assert!(
            inventory
                .path_of(&parent)
                .unwrap()
                .starts_with(&format!("/{}/vm", bed.datacenter))
        );
        assert_eq!(content.props.len(), 3, "only the chosen properties");
    }
}

#[tokio::test]
async fn finds_vms_every_way_and_names_what_is_missing() {
    let bed = testbed();
    let client = bed.connect().await;
    let target = vm_named(&client, "lab-linux-bios").await;
    let folder = target.location.folder_path.clone().unwrap();
    let selectors = [
        VmSelector::Moref(target.moref.clone()),
        VmSelector::Name("lab-linux-bios".into()),
        VmSelector::InventoryPath {
            folder: folder.clone(),
            name: "lab-linux-bios".into(),
        },
        VmSelector::BiosUuid(target.bios_uuid.clone().unwrap()),
        VmSelector::InstanceUuid(target.instance_uuid.clone().unwrap()),
    ];
    for selector in &selectors {
        let found = finder::resolve(&client, selector)
            .await
            .unwrap_or_else(|e| panic!("{selector:?}: {e}"));
        assert_eq!(found, target.moref, "{selector:?}");
    }
    let missing = [
        VmSelector::Moref(MoRef::virtual_machine("vm-does-not-exist")),
        VmSelector::Name("no-such-vm".into()),
        VmSelector::InventoryPath {
            folder,
            name: "no-such-vm".into(),
        },
        VmSelector::BiosUuid("00000000-0000-0000-0000-000000000000".into()),
        VmSelector::InstanceUuid("00000000-0000-0000-0000-000000000000".into()),
    ];
    for selector in &missing {
        let error = finder::resolve(&client, selector).await.unwrap_err();
        assert!(
            matches!(error, Error::VmNotFound(_)),
            "{selector:?}: {error}"
        );
    }
    let error = vm::get(&client, &MoRef::virtual_machine("vm-does-not-exist"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::VmNotFound(_)), "{error}");
}

/// Creates a plain VM (not a fixture) over SOAP, after destroying any left by an earlier run.
async fn create_scratch_vm(client: &Client, folder: &str, name: &str, datastore: &str) -> MoRef {
    let datacenter = testbed().datacenter;
    let folder_ref = finder::find_by_inventory_path(client, &format!("{datacenter}/vm/{folder}"))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("folder {folder}"));
    if let Some(old) =
        finder::find_by_inventory_path(client, &format!("{datacenter}/vm/{folder}/{name}"))
            .await
            .unwrap()
    {
        destroy_vm(client, &old).await;
    }
    let scratch = vm_named(client, "lab-scratch").await;
    let pool = scratch.location.resource_pool.unwrap().moref;
    let mut w = vsphere::xml::Writer::new();
    w.open("config", None)
        .text("name", name)
        .text("guestId", "otherGuest64")
        .open("files", None)
        .text("vmPathName", &format!("[{datastore}]"))
        .close("files")
        .display("numCPUs", 1)
        .display("memoryMB", 64)
        .close("config")
        .moref("pool", &pool);
    let response = client
        .invoke("CreateVM_Task", &folder_ref, &w.finish())
        .await
        .unwrap();
    let task = MoRef::new("Task", response.child_text("returnval").unwrap().trim());
    let info = vsphere::task::wait(client, &task, |_| {}).await.unwrap();
    let result = info.result.expect("CreateVM_Task result");
    MoRef::new("VirtualMachine", result.text.trim())
}

async fn destroy_vm(client: &Client, vm: &MoRef) {
    if power::power_state(client, vm).await.unwrap() != PowerState::PoweredOff {
        power::power_off(client, vm).await.unwrap();
    }
    let response = client.invoke("Destroy_Task", vm, "").await.unwrap();
    let task = MoRef::new("Task", response.child_text("returnval").unwrap().trim());
    vsphere::task::wait(client, &task, |_| {}).await.unwrap();
}

#[tokio::test]
async fn an_ambiguous_name_lists_every_match() {
    let bed = testbed();
    let client = bed.connect().await;
    let twin = "vsphere-test-twin";
    let first = create_scratch_vm(&client, "Test", twin, "datastore1").await;
    let second = create_scratch_vm(&client, "Problems", twin, "datastore2").await;
    let error = finder::find_by_name(&client, twin).await.unwrap_err();
    match &error {
        Error::AmbiguousName { count, matches, .. } => {
            assert_eq!(*count, 2);
            let test_path = format!("/{}/vm/Test/{twin}", bed.datacenter);
            let problems_path = format!("/{}/vm/Problems/{twin}", bed.datacenter);
            assert!(
                matches.iter().any(|m| m.starts_with(&test_path)),
                "{matches:?}"
            );
            assert!(
                matches.iter().any(|m| m.starts_with(&problems_path)),
                "{matches:?}"
            );
        }
        other => panic!("expected AmbiguousName, got {other}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&first.value) && message.contains(&second.value),
        "{message}"
    );
    // The inventory path still tells them apart.
    let selector = VmSelector::InventoryPath {
        folder: format!("/{}/vm/Problems", bed.datacenter),
        name: twin.into(),
    };
    assert_eq!(finder::resolve(&client, &selector).await.unwrap(), second);
    destroy_vm(&client, &first).await;
    destroy_vm(&client, &second).await;
}

#[tokio::test]
async fn tls_modes_pins_and_wrong_thumbprints() {
    let bed = testbed();
    for tls in [
        TlsMode::Thumbprint(bed.sha1.parse().unwrap()),
        TlsMode::Thumbprint(bed.sha256.parse().unwrap()),
        TlsMode::Insecure,
    ] {
        let client = Client::connect(&bed.options(tls.clone()))
            .await
            .unwrap_or_else(|e| panic!("{tls:?}: {e}"));
        client.logout().await.unwrap();
    }
    let wrong = TlsMode::Thumbprint(format!("sha1:{}", "AB".repeat(20)).parse().unwrap());
    let error = Client::connect(&bed.options(wrong)).await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error}");
    assert!(error.to_string().contains("thumbprint"), "{error}");
    // The simulator's certificate is self-signed: the system trust store refuses it.
    let error = Client::connect(&bed.options(TlsMode::Verify))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error}");

    // Whatever the mode, the client keeps the certificate its check accepted.
    let insecure = Client::connect(&bed.options(TlsMode::Insecure))
        .await
        .unwrap();
    let read = insecure.server_certificate().unwrap();
    assert_eq!(read.sha1.to_string(), bed.sha1);
    assert_eq!(read.sha256.to_string(), bed.sha256);
    assert!(read.names_host("127.0.0.1") && !read.names_host("vcenter.example.com"));
    {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let pem = read.to_pem();
        assert!(pem.lines().all(|l| l.len() <= 64), "{pem}");
        assert_eq!(
            CertificateDer::from_pem_slice(pem.as_bytes())
                .unwrap()
                .as_ref(),
            read.der
        );
    }
    insecure.logout().await.unwrap();

    // A CA file is honoured (the self-signed certificate is read from it), and the refusal of a
    // certificate that is its own CA says what to do.
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(&read.der)
    );
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, pem).unwrap();
    let error = Client::connect(&bed.options(TlsMode::CaFile(ca_file)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("pin its thumbprint"), "{error}");
    let missing = TlsMode::CaFile(dir.path().join("missing.pem"));
    let error = Client::connect(&bed.options(missing)).await.unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error}");
}

#[tokio::test]
async fn wrong_password_is_invalid_login_and_never_shown() {
    let bed = testbed();
    let mut options = bed.options(bed.pinned());
    let secret = "Not-The-Password-42";
    options.password = vsphere::Password::new(secret);
    let error = Client::connect(&options).await.unwrap_err();
    assert_eq!(
        error.fault().map(|f| &f.kind),
        Some(&FaultKind::InvalidLogin),
        "{error}"
    );
    assert!(!error.to_string().contains(secret));
    assert!(!format!("{error:?}").contains(secret));
    assert!(!format!("{options:?}").contains(secret));
    let client = bed.connect().await;
    assert!(!format!("{client:?}").contains(&bed.password));
}

#[tokio::test]
async fn a_session_ended_server_side_logs_in_again() {
    let bed = testbed();
    let client = bed.connect().await;
    client.current_time().await.unwrap();
    let ended = bed
        .control_post("/sessions/terminate", serde_json::json!({}))
        .await;
    assert!(ended["terminated"].as_u64().unwrap_or(0) >= 1, "{ended}");
    // The next call meets NotAuthenticated, logs in again and succeeds.
    let vm = vm_named(&client, "lab-windows-efi").await;
    assert_eq!(vm.name, "lab-windows-efi");
    let _keep_alive = client.spawn_keep_alive(Duration::from_secs(600)).unwrap();

    // A task started right after the session ended (the CBT switch is already on: no change).
    bed.control_post("/sessions/terminate", serde_json::json!({}))
        .await;
    cbt::set_change_tracking(&client, &vm.moref, true)
        .await
        .unwrap();

    // The session cookie authenticates another HTTP client; it is hidden from Debug.
    let cookie = client.session_cookie().expect("a session cookie");
    assert!(cookie.as_header().starts_with("vmware_soap_session="));
    assert_eq!(format!("{cookie:?}"), "vmware_soap_session=***");
    let root = &client.service_content().root_folder;
    let envelope = format!(
        concat!(
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
            r#"<soapenv:Body><RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">{}</_this>"#,
            r#"<specSet><propSet><type>Folder</type><pathSet>childEntity</pathSet></propSet>"#,
            r#"<objectSet><obj type="Folder">{}</obj></objectSet></specSet><options/></RetrievePropertiesEx>"#,
            "</soapenv:Body></soapenv:Envelope>"
        ),
        client.service_content().property_collector.value,
        root.value
    );
    let http = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let answer = http
        .post(client.url().clone())
        .header("Cookie", cookie.as_header())
        .header("SOAPAction", "urn:vim25/6.5")
        .body(envelope)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        answer.contains("childEntity") && !answer.contains("NotAuthenticated"),
        "{answer}"
    );
    client.current_time().await.unwrap();
}

#[tokio::test]
async fn datastore_url_serves_the_disk_bytes() {
    let bed = testbed();
    let client = bed.connect().await;
    let vm = vm_named(&client, "lab-linux-bios").await;
    let disk = vm.disks().next().unwrap();
    let path = DatastorePath::parse(disk.file_name.as_deref().unwrap())
        .unwrap()
        .flat_file();
    let url = datastore_file_url(
        client.url(),
        vm.location.datacenter_path.as_deref().unwrap(),
        &path,
    )
    .unwrap();
    assert!(
        url.as_str().contains(
            "/folder/lab-linux-bios/lab-linux-bios-flat.vmdk?dcPath=DC-Lab&dsName=datastore1"
        ),
        "{url}"
    );
    assert_eq!(
        support::get_range(url, "bytes=0-16").await,
        b"VMKIT-DISK0-START"
    );
}

#[tokio::test]
async fn cbt_sequence_finds_exactly_the_guest_writes() {
    let _scratch = support::SCRATCH_VM.lock().await;
    let bed = testbed();
    let client = bed.connect().await;
    let vm = vm_named(&client, "lab-scratch").await;
    cbt::set_change_tracking(&client, &vm.moref, true)
        .await
        .unwrap();
    let disk = vm.disks().next().unwrap().clone();
    let options = |name: &str| CreateSnapshot {
        name: name.into(),
        description: "vsphere crate test".into(),
        quiesce: false,
    };
    let mut progress = Vec::new();
    let first =
        snapshot::create_snapshot(&client, &vm.moref, &options("cbt-1"), |p| progress.push(p))
            .await
            .unwrap();
    let first_disks = snapshot::snapshot_disks(&client, &first).await.unwrap();
    let base = first_disks
        .iter()
        .find(|d| d.key == disk.key)
        .unwrap()
        .change_id
        .clone()
        .expect("change id at snapshot 1");

    let offset: i64 = 5 * 1024 * 1024 + 4096;
    let length: i64 = 100_000;
    bed.control_post(
        "/write",
        serde_json::json!({"vm": "lab-scratch", "disk": 0, "offset": offset, "random": {"seed": rand_seed(), "length": length}}),
    )
    .await;
    let second = snapshot::create_snapshot(&client, &vm.moref, &options("cbt-2"), |_| {})
        .await
        .unwrap();

    let areas = cbt::changed_areas(
        &client,
        &vm.moref,
        Some(&second),
        disk.key,
        disk.capacity_bytes,
        &base,
    )
    .await
    .unwrap();
    let block = 64 * 1024;
    let expected_start = offset / block * block;
    let expected_end = (offset + length + block - 1) / block * block;
    assert_eq!(areas.len(), 1, "{areas:?}");
    assert_eq!(areas[0].start, expected_start);
    assert_eq!(areas[0].start + areas[0].length, expected_end);

    // "*" lists the allocated areas, which include the write.
    let allocated = cbt::changed_areas(
        &client,
        &vm.moref,
        Some(&second),
        disk.key,
        disk.capacity_bytes,
        "*",
    )
    .await
    .unwrap();
    assert!(
        allocated
            .iter()
            .any(|a| a.start <= offset && a.start + a.length >= offset + length),
        "{allocated:?}"
    );

    let error = cbt::query_changed_disk_areas(
        &client,
        &vm.moref,
        Some(&second),
        disk.key,
        0,
        "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/9",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            error.fault().map(|f| &f.kind),
            Some(FaultKind::FileFault { .. })
        ),
        "{error}"
    );

    for snapshot_ref in [&second, &first] {
        snapshot::remove_snapshot(&client, snapshot_ref, true, |_| {})
            .await
            .unwrap();
    }
    let after = vm::get(&client, &vm.moref).await.unwrap();
    assert!(
        after
            .all_snapshots()
            .iter()
            .all(|s| !s.name.starts_with("cbt-"))
    );
    let error = snapshot::remove_snapshot(&client, &first, true, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.fault().map(|f| &f.kind),
            Some(FaultKind::ManagedObjectNotFound { .. })
        ),
        "{error}"
    );
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
}

#[tokio::test]
async fn power_operations_and_typed_task_faults() {
    let bed = testbed();
    let client = bed.connect().await;
    // A VM of its own, so the fixture VMs keep the state other tests expect.
    let spare = create_scratch_vm(&client, "Test", "vsphere-test-power", "datastore1").await;
    if power::power_state(&client, &spare).await.unwrap() != PowerState::PoweredOn {
        power::power_on(&client, &spare).await.unwrap();
    }
    // Tasks are watched with WaitForUpdatesEx, not polled.
    let task = power::power_off_task(&client, &spare).await.unwrap();
    let info = vsphere::task::watch(&client, &task, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(info.state, vsphere::task::TaskState::Success);
    power::power_on(&client, &spare).await.unwrap();
    let error = power::power_on(&client, &spare).await.unwrap_err();
    assert!(matches!(error, Error::TaskFailed { .. }), "{error}");
    assert!(
        matches!(
            error.fault().map(|f| &f.kind),
            Some(FaultKind::InvalidPowerState { .. })
        ),
        "{error}"
    );
    let outcome = power::ensure_powered_off(&client, &spare, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(outcome, power::PowerOffOutcome::GuestShutdown);
    assert_eq!(
        power::power_state(&client, &spare).await.unwrap(),
        PowerState::PoweredOff
    );
    assert_eq!(
        power::ensure_powered_off(&client, &spare, None)
            .await
            .unwrap(),
        power::PowerOffOutcome::AlreadyOff
    );
    power::power_on(&client, &spare).await.unwrap();
    assert_eq!(
        power::ensure_powered_off(&client, &spare, None)
            .await
            .unwrap(),
        power::PowerOffOutcome::HardPowerOff
    );
    destroy_vm(&client, &spare).await;
}
