//! The client against a standalone ESXi host (HostAgent API, `ha-datacenter`, no folders, no
//! vCenter-only calls): the test bed's second simulator, with tests/fixtures/esxi.yaml as the
//! oracle. Start it first: `scripts/testbed up vsphere; eval "$(scripts/testbed env)"`.

mod support;

use testbed::vsphere::{Fixtures, HOW_TO_START, Simulator};
use vsphere::datastore::{DatastorePath, datastore_file_url};
use vsphere::finder::{self, VmSelector};
use vsphere::snapshot::{self, CreateSnapshot};
use vsphere::vm::PowerState;
use vsphere::{Client, ConnectOptions, Password, Thumbprint, TlsMode, cbt, vm};

async fn connect(host: &Simulator) -> Client {
    let pin: Thumbprint = host.thumbprint_sha1.parse().expect("ESXi thumbprint");
    Client::connect(&ConnectOptions {
        server: host.url.clone(),
        user: host.user.clone(),
        password: Password::new(host.password.clone()),
        tls: TlsMode::Thumbprint(pin),
    })
    .await
    .unwrap_or_else(|e| panic!("cannot log in to the ESXi simulator ({e}): {HOW_TO_START}"))
}

#[tokio::test]
async fn a_standalone_host_is_read_like_a_vcenter() {
    let host = Simulator::esxi_from_env();
    let fixtures = Fixtures::esxi_from_env();
    let client = connect(&host).await;
    let about = client.about();
    assert_eq!(about.api_type, "HostAgent", "{about:?}");
    assert!(about.is_standalone_host() && !about.is_vcenter());

    let all = vm::list(&client).await.expect("list VMs");
    let mut names: Vec<_> = all.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    let mut expected: Vec<_> = fixtures.vms.iter().map(|v| v.name.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(names, expected);

    for fixture in &fixtures.vms {
        let name = &fixture.name;
        let by_name = finder::find_by_name(&client, name).await.expect(name);
        let by_path = finder::resolve(
            &client,
            &VmSelector::InventoryPath {
                folder: "/ha-datacenter/vm".into(),
                name: name.clone(),
            },
        )
        .await
        .expect(name);
        assert_eq!(by_name, by_path, "{name}");
        let machine = vm::get(&client, &by_name).await.expect(name);
        let location = &machine.location;
        assert_eq!(location.folder_path.as_deref(), Some("/ha-datacenter/vm"));
        assert_eq!(location.datacenter_path.as_deref(), Some("ha-datacenter"));
        assert!(location.host.is_some() && location.resource_pool.is_some());
        assert!(location.cluster.is_none(), "{name}: a host has no cluster");
        assert_eq!(machine.guest_id.as_deref(), Some(fixture.guest_id.as_str()));
        assert_eq!(machine.cpu.sockets, fixture.cpu.sockets, "{name}");
        assert_eq!(machine.memory_mb, fixture.memory_mib, "{name}");
        assert_eq!(machine.change_tracking_enabled, fixture.cbt, "{name}");
        let power = if fixture.power == "on" {
            PowerState::PoweredOn
        } else {
            PowerState::PoweredOff
        };
        assert_eq!(machine.power_state, power, "{name}");
        let disks: Vec<_> = machine.disks().collect();
        assert_eq!(disks.len(), fixture.disks.len(), "{name}");
        for (disk, expected) in disks.iter().zip(&fixture.disks) {
            assert_eq!(disk.capacity_bytes, expected.size_bytes, "{name}");
            assert_eq!(
                disk.controller.as_ref().map(|c| c.kind.name()),
                Some(expected.controller.as_str())
            );
            assert_eq!(
                disk.change_tracking_enabled,
                fixture.cbt.then_some(true),
                "{name} ctkEnabled"
            );
        }
        let macs: Vec<_> = machine
            .nics()
            .map(|n| n.mac_address.clone().unwrap_or_default())
            .collect();
        let expected_macs: Vec<_> = fixture.nics.iter().map(|n| n.mac.clone()).collect();
        assert_eq!(macs, expected_macs, "{name}");
    }
    client.logout().await.unwrap();
}

#[tokio::test]
async fn snapshots_and_datastore_files_on_a_standalone_host() {
    let host = Simulator::esxi_from_env();
    let client = connect(&host).await;
    let moref = finder::find_by_name(&client, "esx-linux").await.unwrap();
    let machine = vm::get(&client, &moref).await.unwrap();
    let disk = machine.disks().next().unwrap().clone();

    // The VDDK-free transport reads disks over /folder with dcPath=ha-datacenter.
    let path = DatastorePath::parse(disk.file_name.as_deref().unwrap()).unwrap();
    let url = datastore_file_url(
        client.url(),
        machine.location.datacenter_path.as_deref().unwrap(),
        &path.flat_file(),
    )
    .unwrap();
    assert!(url.as_str().contains("dcPath=ha-datacenter"), "{url}");
    assert_eq!(support::get_range(url, "bytes=0-7").await.len(), 8);

    cbt::set_change_tracking(&client, &moref, true)
        .await
        .unwrap();
    let options = CreateSnapshot {
        name: "esxi-test".into(),
        description: "vsphere crate ESXi test".into(),
        quiesce: false,
    };
    let taken = snapshot::create_snapshot(&client, &moref, &options, |_| {})
        .await
        .unwrap();
    let frozen = snapshot::snapshot_disks(&client, &taken).await.unwrap();
    let change_id = frozen
        .iter()
        .find(|d| d.key == disk.key)
        .and_then(|d| d.change_id.clone())
        .expect("a change id on the snapshot's disk");
    let allocated = cbt::changed_areas(
        &client,
        &moref,
        Some(&taken),
        disk.key,
        disk.capacity_bytes,
        "*",
    )
    .await
    .unwrap();
    assert!(!allocated.is_empty(), "random content is allocated");
    assert!(change_id.contains('/'), "{change_id}");
    snapshot::remove_snapshot(&client, &taken, true, |_| {})
        .await
        .unwrap();
    let after = vm::get(&client, &moref).await.unwrap();
    assert!(
        after.all_snapshots().iter().all(|s| s.name != "esxi-test"),
        "{:?}",
        after.snapshots
    );
}
