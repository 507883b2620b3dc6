//! Keeping a Linux guest's interface names across the move to virtio (see guest_network.sh for
//! why): the script the conversion runs inside the guest, with the VM's NICs — each MAC with the
//! addresses VMware Tools reported on it when the run began.

use std::net::IpAddr;
use std::path::Path;

use vsphere::VirtualMachine;

const BODY: &str = include_str!("guest_network.sh");

/// One NIC: its MAC (lowercase, as udev compares it) and the guest's addresses on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicAddresses {
    pub mac: String,
    pub addresses: Vec<IpAddr>,
}

/// The VM's NICs with a usable MAC, in device order.
pub fn nics_of(vm: &VirtualMachine) -> Vec<NicAddresses> {
    vm.nics()
        .filter_map(|nic| {
            let mac = nic.mac_address.as_deref().and_then(canonical_mac)?;
            let addresses = vm
                .guest_nic_of(nic)
                .map(|guest| {
                    guest
                        .ip_addresses
                        .iter()
                        .filter_map(|ip| ip.address.parse::<IpAddr>().ok())
                        .filter(|ip| !is_link_local(ip))
                        .collect()
                })
                .unwrap_or_default();
            Some(NicAddresses { mac, addresses })
        })
        .collect()
}

/// The script for `--run`, or None for a VM without NICs. Every value in it was parsed (MACs
/// as hex pairs, addresses as IPs), so nothing from vSphere reaches the shell unchecked.
pub fn script(nics: &[NicAddresses]) -> Option<String> {
    script_at(Path::new("/"), nics)
}

/// The same script for a guest file system mounted at `root`.
pub fn script_at(root: &Path, nics: &[NicAddresses]) -> Option<String> {
    if nics.is_empty() {
        return None;
    }
    let root = root.to_string_lossy().replace('\'', r"'\''");
    let arguments: Vec<String> = nics
        .iter()
        .map(|nic| {
            let addresses: Vec<String> = nic.addresses.iter().map(IpAddr::to_string).collect();
            format!("{}={}", nic.mac, addresses.join(","))
        })
        .collect();
    Some(format!(
        "#!/bin/sh\n{BODY}\nkeep_nic_names '{root}' {}\n",
        arguments.join(" ")
    ))
}

/// `00:50:56:AB:cd:01` → `00:50:56:ab:cd:01`; None for anything else.
fn canonical_mac(mac: &str) -> Option<String> {
    let parts: Vec<&str> = mac.trim().split([':', '-']).collect();
    let valid = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    valid.then(|| parts.join(":").to_ascii_lowercase())
}

/// fe80::/10 is on every interface and says nothing about which configuration it belongs to.
fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_canonical_or_refused() {
        assert_eq!(
            canonical_mac("00:50:56:AB:cd:01").as_deref(),
            Some("00:50:56:ab:cd:01")
        );
        assert_eq!(
            canonical_mac("00-50-56-ab-cd-01").as_deref(),
            Some("00:50:56:ab:cd:01")
        );
        for bad in [
            "",
            "00:50:56:ab:cd",
            "00:50:56:ab:cd:0g",
            "00:50:56:ab:cd:01;reboot",
        ] {
            assert_eq!(canonical_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn script_ends_with_one_call_naming_each_nic() {
        let nics = [
            NicAddresses {
                mac: "00:50:56:00:00:01".into(),
                addresses: vec!["192.0.2.5".parse().unwrap(), "fd00::5".parse().unwrap()],
            },
            NicAddresses {
                mac: "00:50:56:00:00:02".into(),
                addresses: vec![],
            },
        ];
        let text = script(&nics).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.ends_with(
            "\nkeep_nic_names '/' 00:50:56:00:00:01=192.0.2.5,fd00::5 00:50:56:00:00:02=\n"
        ));
        assert_eq!(script(&[]), None);
    }
}
