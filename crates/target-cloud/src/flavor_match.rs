//! Choosing an existing flavor for a VM.
//!
//! The original compared the flavor's disk (GiB) with the VM's disks in bytes and took the
//! smallest |difference| sum, so a flavor with fewer vCPUs or less RAM than the VM could win.
//! Here a flavor qualifies only if it has at least the VM's vCPUs and RAM (and, when the server
//! does not boot from a volume, at least its disk), and the smallest qualifying one wins.

use std::cmp::Ordering;

use openstack::nova::flavors::Flavor;

/// What the VM needs, in the units Nova uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmNeeds {
    pub vcpus: u32,
    pub ram_mib: u64,
    /// Every disk together, rounded up to whole GiB.
    pub disk_gib: u64,
}

impl VmNeeds {
    /// `disk_bytes` is the sum of the VM's disk capacities.
    pub fn new(vcpus: u32, ram_mib: u64, disk_bytes: u64) -> VmNeeds {
        VmNeeds {
            vcpus,
            ram_mib,
            disk_gib: disk_bytes.div_ceil(1 << 30),
        }
    }
}

/// Why no flavor qualified, with what would have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no flavor visible to this project has at least {} vCPUs and {} MiB RAM{}{}; create one (export_flavor then import_flavor, or use_existing_flavor: false) or pass a flavor explicitly",
    needs.vcpus,
    needs.ram_mib,
    if *boot_from_volume { String::new() } else { format!(" and a {} GiB disk", needs.disk_gib) },
    largest.as_ref().map(|l| format!(" (largest: {l})")).unwrap_or_else(|| " (the project sees no flavor at all)".into())
)]
pub struct NoFlavorFits {
    pub needs: VmNeeds,
    pub boot_from_volume: bool,
    /// The biggest flavor seen, described.
    pub largest: Option<String>,
}

pub fn describe(flavor: &Flavor) -> String {
    format!(
        "{} ({} vCPUs, {} MiB RAM, {} GiB disk)",
        flavor.name, flavor.vcpus, flavor.ram, flavor.disk
    )
}

/// Whether a server of this flavor gives the VM what it had.
pub fn fits(flavor: &Flavor, needs: &VmNeeds, boot_from_volume: bool) -> bool {
    !flavor.disabled
        && flavor.vcpus >= needs.vcpus
        && flavor.ram >= needs.ram_mib
        // A boot volume is the root disk, whatever the flavor says; without one the flavor's
        // disk is the root disk and must hold the VM's disks.
        && (boot_from_volume || flavor.disk >= needs.disk_gib)
}

/// The smallest flavor that fits: fewest vCPUs, then least RAM, then smallest disk (a flavor
/// that reserves no local disk is best for a boot volume), then name and id, so the same list
/// always gives the same answer.
pub fn best_match<'a>(
    flavors: &'a [Flavor],
    needs: &VmNeeds,
    boot_from_volume: bool,
) -> Result<&'a Flavor, NoFlavorFits> {
    flavors
        .iter()
        .filter(|f| fits(f, needs, boot_from_volume))
        .min_by(|a, b| smallest_first(a, b))
        .ok_or_else(|| NoFlavorFits {
            needs: *needs,
            boot_from_volume,
            largest: flavors
                .iter()
                .filter(|f| !f.disabled)
                .max_by(|a, b| smallest_first(a, b))
                .map(describe),
        })
}

fn smallest_first(a: &Flavor, b: &Flavor) -> Ordering {
    (a.vcpus, a.ram, a.disk, a.ephemeral, a.swap, &a.name, &a.id).cmp(&(
        b.vcpus,
        b.ram,
        b.disk,
        b.ephemeral,
        b.swap,
        &b.name,
        &b.id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor(name: &str, vcpus: u32, ram: u64, disk: u64) -> Flavor {
        serde_json::from_value(serde_json::json!({
            "id": format!("id-{name}"), "name": name, "vcpus": vcpus, "ram": ram, "disk": disk,
        }))
        .expect("flavor json")
    }

    /// What a typical cloud offers: the m1 family and a few sized for volumes.
    fn realistic() -> Vec<Flavor> {
        vec![
            flavor("m1.tiny", 1, 512, 1),
            flavor("m1.small", 1, 2048, 20),
            flavor("m1.medium", 2, 4096, 40),
            flavor("m1.large", 4, 8192, 80),
            flavor("m1.xlarge", 8, 16384, 160),
            flavor("c1.medium", 2, 2048, 20),
            flavor("r1.medium", 1, 8192, 20),
            flavor("2vcpu-4gib-disk20", 2, 4096, 20),
            flavor("2vcpu-4gib-disk0", 2, 4096, 0),
        ]
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn needs_round_bytes_up_to_whole_gib() {
        assert_eq!(VmNeeds::new(1, 1, 0).disk_gib, 0);
        assert_eq!(VmNeeds::new(1, 1, 1).disk_gib, 1);
        assert_eq!(VmNeeds::new(1, 1, 50 * GIB).disk_gib, 50);
        assert_eq!(VmNeeds::new(1, 1, 50 * GIB + 1).disk_gib, 51);
    }

    #[test]
    fn table_of_choices() {
        let flavors = realistic();
        // (vcpus, ram MiB, disk bytes, boot from volume) -> flavor
        let cases: &[(u32, u64, u64, bool, &str)] = &[
            // 2 vCPU / 4 GiB / 100 GiB disks, boot from volume: the disk is not compared, and
            // the flavor reserving no local disk wins among the 2/4096 ones.
            (2, 4096, 100 * GIB, true, "2vcpu-4gib-disk0"),
            // The same VM booting from a local disk needs 100 GiB of it: only m1.xlarge has that.
            (2, 4096, 100 * GIB, false, "m1.xlarge"),
            (2, 4096, 30 * GIB, false, "m1.medium"),
            (2, 4096, 20 * GIB, false, "2vcpu-4gib-disk20"),
            (1, 512, GIB, true, "m1.tiny"),
            // More RAM than m1.small: fewest vCPUs first, so r1.medium (1 vCPU, 8 GiB).
            (1, 3000, 10 * GIB, true, "r1.medium"),
            (2, 2048, 10 * GIB, true, "c1.medium"),
            (3, 1024, GIB, true, "m1.large"),
            (8, 16384, GIB, true, "m1.xlarge"),
        ];
        for &(vcpus, ram, disk, bfv, expected) in cases {
            let needs = VmNeeds::new(vcpus, ram, disk);
            let chosen = best_match(&flavors, &needs, bfv).expect("a flavor fits");
            assert_eq!(chosen.name, expected, "{needs:?} boot_from_volume={bfv}");
            assert!(chosen.vcpus >= vcpus && chosen.ram >= ram);
        }
    }

    #[test]
    fn the_originals_unit_mixup_cannot_pick_a_smaller_flavor() {
        // The original's |Δ| sum with bytes for the disk picked the flavor with the biggest
        // disk, whatever its CPUs. Ours never goes below the VM.
        let flavors = vec![
            flavor("huge-disk-1cpu", 1, 1024, 2000),
            flavor("ok", 4, 8192, 10),
        ];
        let needs = VmNeeds::new(4, 8192, 500 * GIB);
        assert_eq!(best_match(&flavors, &needs, true).expect("fits").name, "ok");
    }

    #[test]
    fn ties_are_broken_by_name_then_id_whatever_the_order() {
        let mut flavors = vec![flavor("b", 2, 4096, 0), flavor("a", 2, 4096, 0)];
        let needs = VmNeeds::new(2, 4096, 0);
        assert_eq!(best_match(&flavors, &needs, true).expect("fits").name, "a");
        flavors.reverse();
        assert_eq!(best_match(&flavors, &needs, true).expect("fits").name, "a");
    }

    #[test]
    fn disabled_flavors_are_never_chosen() {
        let mut disabled = flavor("gone", 2, 4096, 0);
        disabled.disabled = true;
        let flavors = vec![disabled, flavor("next", 4, 8192, 0)];
        let needs = VmNeeds::new(2, 4096, 0);
        assert_eq!(
            best_match(&flavors, &needs, true).expect("fits").name,
            "next"
        );
    }

    #[test]
    fn too_big_a_vm_says_what_it_needs_and_what_there_is() {
        let needs = VmNeeds::new(64, 524288, 10 * GIB);
        let error = best_match(&realistic(), &needs, true).expect_err("nothing fits");
        let text = error.to_string();
        assert!(
            text.contains("at least 64 vCPUs and 524288 MiB RAM (largest"),
            "{text}"
        );
        assert!(
            text.contains("largest: m1.xlarge (8 vCPUs, 16384 MiB RAM"),
            "{text}"
        );
        assert!(text.contains("import_flavor"), "{text}");
        let error = best_match(&realistic(), &needs, false).expect_err("nothing fits");
        assert!(error.to_string().contains("and a 10 GiB disk"), "{error}");
        let error = best_match(&[], &needs, true).expect_err("no flavors");
        assert!(
            error.to_string().contains("sees no flavor at all"),
            "{error}"
        );
    }
}
