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

/// The VM's uuid as it may appear in a name: only ASCII letters, digits and `-` (it comes from
/// the server). None when nothing is left.
pub fn uuid_label(uuid: &str) -> Option<String> {
    let kept: String = uuid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!kept.trim_matches('-').is_empty()).then_some(kept)
}

/// The safe name, or `vm` when nothing of the name is left (`数据库`, `Сервер`).
fn label(vm_name: &str) -> String {
    let safe = safe_vm_name(vm_name);
    if safe.is_empty() { "vm".into() } else { safe }
}

/// The names a disk's volume may get, best first: the original's `<safe vm name>-<disk key>`
/// (drop-in: found by either collection), unless the safe name is empty; then, for when that
/// name is another VM's, `<safe name or vm>-<first 8 of the uuid>-<disk key>` and the same with
/// the whole uuid. A name is only a label: the volume belongs to the VM its metadata records.
pub fn volume_names(vm_name: &str, uuid: &str, disk_key: i32) -> Vec<String> {
    let safe = safe_vm_name(vm_name);
    let label = label(vm_name);
    let short: String = uuid.chars().take(8).collect();
    let mut names = Vec::with_capacity(3);
    if !safe.is_empty() {
        names.push(format!("{safe}-{disk_key}"));
    }
    names.push(format!("{label}-{short}-{disk_key}"));
    names.push(format!("{label}-{uuid}-{disk_key}"));
    names.dedup();
    names
}

/// The VM's directory under `osmdatadir` (lock, log, progress): `<safe name or vm>-<uuid>`,
/// never empty and never another VM's, whatever the names.
pub fn vm_dir_name(vm_name: &str, uuid: &str) -> String {
    format!("{}-{uuid}", label(vm_name))
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
        assert_eq!(volume_names("lab vm", "4211-ab", 2001)[0], "lab_vm-2001");
    }

    #[test]
    fn colliding_and_empty_names_get_distinct_names_from_the_uuid() {
        let uuid_a = "4211d5c3-0b5a-7c52-9e7c-aaaaaaaaaaaa";
        let uuid_b = "50129f2e-1111-2222-3333-bbbbbbbbbbbb";
        // x.1 and x_1: the same original name, different second choices.
        let a = volume_names("x.1", uuid_a, 2000);
        let b = volume_names("x_1", uuid_b, 2000);
        assert_eq!(a[0], b[0]);
        assert_eq!(a[0], "x_1-2000");
        assert_eq!(a[1], "x_1-4211d5c3-2000");
        assert_eq!(b[1], "x_1-50129f2e-2000");
        assert_eq!(a[2], format!("x_1-{uuid_a}-2000"));
        // Nothing of an all-Cyrillic or all-Chinese name is left: no `-2000`.
        for name in ["Сервер", "数据库"] {
            assert_eq!(safe_vm_name(name), "");
            let names = volume_names(name, uuid_a, 2000);
            assert_eq!(names, ["vm-4211d5c3-2000", &format!("vm-{uuid_a}-2000")]);
        }
        assert_ne!(vm_dir_name("Сервер", uuid_a), vm_dir_name("Данные", uuid_b));
        assert_eq!(vm_dir_name("数据库", uuid_a), format!("vm-{uuid_a}"));
        assert_eq!(vm_dir_name("x.1", uuid_a), format!("x_1-{uuid_a}"));
    }

    #[test]
    fn a_uuid_from_the_server_cannot_leave_the_data_directory() {
        assert_eq!(uuid_label("../../etc").as_deref(), Some("etc"));
        assert_eq!(uuid_label("a/b c").as_deref(), Some("abc"));
        assert_eq!(uuid_label("../.."), None);
        assert_eq!(uuid_label("--"), None);
    }
}
