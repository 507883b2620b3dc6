//! The interface-name script, run by the system's `sh` (dash on Debian, as in a Debian guest)
//! against guest file systems laid out as each distribution's network tools write them.

use std::fs;
use std::path::Path;
use std::process::Command;

use migrate::guest_network::{NicAddresses, script_at};

const RULES: &str = "etc/udev/rules.d/70-vmkit-persistent-net.rules";

fn nic(mac: &str, addresses: &[&str]) -> NicAddresses {
    NicAddresses {
        mac: mac.into(),
        addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
    }
}

fn guest(files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = root.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    root
}

/// Runs the script on `root`; returns each `MAC NAME` pair of the rules it wrote.
fn kept_names(root: &Path, nics: &[NicAddresses]) -> Vec<(String, String)> {
    let script = root.join("keep-nic-names.sh");
    fs::write(&script, script_at(root, nics).unwrap()).unwrap();
    let out = Command::new("sh").arg(&script).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let Ok(rules) = fs::read_to_string(root.join(RULES)) else {
        return Vec::new();
    };
    rules
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let value = |key: &str| {
                let start = l.find(key).unwrap() + key.len();
                l[start..].split('"').next().unwrap().to_owned()
            };
            (value("ATTR{address}==\""), value("NAME=\""))
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(m, n)| (m.to_string(), n.to_string()))
        .collect()
}

const IFUPDOWN: &str = "auto lo
iface lo inet loopback

allow-hotplug ens192
iface ens192 inet static
    address 192.168.10.21/24
    gateway 192.168.10.1
iface ens192 inet6 static
    address fd00::21/64

auto ens224
iface ens224 inet dhcp
";

#[test]
fn debian_ifupdown_names_follow_the_static_address_and_the_one_nic_left() {
    let root = guest(&[("etc/network/interfaces", IFUPDOWN)]);
    let names = kept_names(
        root.path(),
        &[
            nic("00:50:56:00:00:02", &[]),
            nic("00:50:56:00:00:01", &["fd00::21", "192.168.10.21"]),
        ],
    );
    assert_eq!(
        names,
        pairs(&[
            ("00:50:56:00:00:01", "ens192"),
            ("00:50:56:00:00:02", "ens224")
        ])
    );
}

#[test]
fn a_name_is_given_once_and_unknown_nics_keep_the_guest_default() {
    let root = guest(&[("etc/network/interfaces", IFUPDOWN)]);
    // Two NICs claim ens192's addresses; a third reports nothing: only the first gets a name.
    let names = kept_names(
        root.path(),
        &[
            nic("00:50:56:00:00:01", &["192.168.10.21"]),
            nic("00:50:56:00:00:03", &["fd00::21"]),
            nic("00:50:56:00:00:04", &[]),
        ],
    );
    assert_eq!(names, pairs(&[("00:50:56:00:00:01", "ens192")]));
}

#[test]
fn netplan_keys_with_their_addresses_but_not_the_ones_matched_by_mac() {
    let root = guest(&[(
        "etc/netplan/50-cloud-init.yaml",
        "network:
  version: 2
  ethernets:
    ens192:
      addresses: [10.0.0.5/24, \"fd00::5/64\"]
      routes:
        - to: default
          via: 10.0.0.1
    \"ens224\":
      addresses:
        - 10.1.0.5/16
    id0:
      match:
        macaddress: 00:50:56:00:00:09
      set-name: lan9
      addresses: [10.9.0.5/24]
",
    )]);
    let names = kept_names(
        root.path(),
        &[
            nic("00:50:56:00:00:01", &["fd00::5"]),
            nic("00:50:56:00:00:02", &["10.1.0.5"]),
            nic("00:50:56:00:00:09", &["10.9.0.5"]),
        ],
    );
    assert_eq!(
        names,
        pairs(&[
            ("00:50:56:00:00:01", "ens192"),
            ("00:50:56:00:00:02", "ens224")
        ])
    );
}

#[test]
fn networkmanager_ifcfg_and_networkd_files_are_read() {
    let nm = guest(&[(
        "etc/NetworkManager/system-connections/Wired.nmconnection",
        "[connection]\nid=Wired\ntype=ethernet\ninterface-name=ens160\n\n\
         [ipv4]\naddress1=172.16.0.7/24,172.16.0.1\nmethod=manual\n",
    )]);
    assert_eq!(
        kept_names(nm.path(), &[nic("00:50:56:00:00:01", &["172.16.0.7"])]),
        pairs(&[("00:50:56:00:00:01", "ens160")])
    );
    let ifcfg = guest(&[
        (
            "etc/sysconfig/network-scripts/ifcfg-eth0",
            "DEVICE=\"eth0\"\nBOOTPROTO=static\nIPADDR=192.0.2.9\nPREFIX=24\n",
        ),
        (
            "etc/sysconfig/network-scripts/ifcfg-lo",
            "DEVICE=lo\nIPADDR=127.0.0.1\n",
        ),
    ]);
    assert_eq!(
        kept_names(ifcfg.path(), &[nic("00:50:56:00:00:01", &["192.0.2.9"])]),
        pairs(&[("00:50:56:00:00:01", "eth0")])
    );
    let networkd = guest(&[(
        "etc/systemd/network/10-ens192.network",
        "[Match]\nName=ens192\n\n[Network]\nAddress=198.51.100.3/24\n",
    )]);
    // A powered-off VM reports no address: one NIC, one configured interface.
    assert_eq!(
        kept_names(networkd.path(), &[nic("00:50:56:00:00:01", &[])]),
        pairs(&[("00:50:56:00:00:01", "ens192")])
    );
}

#[test]
fn a_guest_without_network_configuration_is_left_alone() {
    let root = guest(&[("etc/hostname", "web01\n")]);
    assert_eq!(
        kept_names(root.path(), &[nic("00:50:56:00:00:01", &["192.0.2.1"])]),
        Vec::new()
    );
    assert!(!root.path().join("etc/udev").exists());
}

#[test]
fn names_a_udev_rule_could_misread_are_not_written() {
    let root = guest(&[(
        "etc/network/interfaces",
        "iface en\"s1 inet static\n    address 192.0.2.1/24\n",
    )]);
    assert_eq!(
        kept_names(root.path(), &[nic("00:50:56:00:00:01", &["192.0.2.1"])]),
        Vec::new()
    );
}
