//! Names of what a migration creates, kept compatible with the original collection so volumes
//! made by either are found by the other.

/// The name of the one snapshot a run takes. A snapshot with this name is ours: a run that finds
/// one left by a crashed run removes it.
pub const SNAPSHOT_NAME: &str = "os-migrate-vmkit";
pub const SNAPSHOT_DESCRIPTION: &str = "Taken by os_migrate.vmware_migration_kit migrate to copy the disks; \
     removed when the run ends. Safe to delete when no migration of this VM is running.";

/// The original's `SafeVmName`: accents transliterated, anything outside `[A-Za-z0-9_-]` turned
/// into `_`, runs of `_` collapsed, at most 64 characters, no `_` at either end.
pub fn safe_vm_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let mapped = transliterate(c);
        for m in mapped.chars() {
            let m = if m.is_ascii_alphanumeric() || m == '-' || m == '_' {
                m
            } else {
                '_'
            };
            if !(m == '_' && out.ends_with('_')) {
                out.push(m);
            }
        }
    }
    let cut: String = out.chars().take(64).collect();
    cut.trim_matches('_').to_owned()
}

/// `<safe vm name>-<disk key>`, as the original names a disk's volume.
pub fn volume_name(vm_name: &str, disk_key: i32) -> String {
    format!("{}-{disk_key}", safe_vm_name(vm_name))
}

fn transliterate(c: char) -> &'static str {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => "a",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ą' => "A",
        'æ' => "ae",
        'Æ' => "AE",
        'ç' | 'ć' | 'č' => "c",
        'Ç' | 'Ć' | 'Č' => "C",
        'ď' | 'đ' => "d",
        'Ď' | 'Đ' => "D",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ę' | 'Ě' => "E",
        'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' => "I",
        'ł' => "l",
        'Ł' => "L",
        'ñ' | 'ń' | 'ň' => "n",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'œ' => "oe",
        'Œ' => "OE",
        'ř' => "r",
        'Ř' => "R",
        'ś' | 'š' | 'ş' => "s",
        'Ś' | 'Š' | 'Ş' => "S",
        'ß' => "ss",
        'ť' | 'ţ' => "t",
        'Ť' | 'Ţ' => "T",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű' => "U",
        'ý' | 'ÿ' => "y",
        'Ý' | 'Ÿ' => "Y",
        'ź' | 'ż' | 'ž' => "z",
        'Ź' | 'Ż' | 'Ž' => "Z",
        _ if c.is_ascii() => ascii_str(c),
        _ => "_",
    }
}

fn ascii_str(c: char) -> &'static str {
    const TABLE: &str = "\0\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\t\n\u{b}\u{c}\r\u{e}\u{f}\u{10}\u{11}\u{12}\u{13}\u{14}\u{15}\u{16}\u{17}\u{18}\u{19}\u{1a}\u{1b}\u{1c}\u{1d}\u{1e}\u{1f} !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\u{7f}";
    let i = c as usize;
    &TABLE[i..i + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_match_the_original() {
        assert_eq!(safe_vm_name("web-01"), "web-01");
        assert_eq!(
            safe_vm_name("Serveur Échange (prod)"),
            "Serveur_Echange_prod"
        );
        assert_eq!(safe_vm_name("a..b  c"), "a_b_c");
        assert_eq!(safe_vm_name(&"x".repeat(80)).len(), 64);
        assert_eq!(volume_name("lab vm", 2001), "lab_vm-2001");
    }
}
