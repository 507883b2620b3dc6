//! Each module's DOCUMENTATION (what `ansible-doc` shows) must say exactly what its Rust argument
//! struct accepts: names, types, required, defaults, no_log, aliases, choices, list elements.
//! The original collection's docs and code drifted apart; here a drift fails the build.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ansible_module::ArgSpec;
use serde_json::Value;
use vmkit::modules::MODULES;

fn modules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/modules")
}

/// The `NAME = r'''...'''` block of a docs file.
fn python_block(path: &Path, text: &str, name: &str) -> String {
    let start = text
        .find(&format!("{name} = r'''"))
        .unwrap_or_else(|| panic!("{}: no {name} block", path.display()));
    let body = &text[start + name.len() + 7..];
    body[..body.find("'''").expect("unterminated block")].to_string()
}

/// The options of the collection's doc fragments a DOCUMENTATION names in
/// `extends_documentation_fragment`, merged into its own as ansible-doc does; an option both
/// define, or a fragment that is not ours, is refused.
fn merge_fragments(module: &str, docs: &mut Value) {
    let names: Vec<String> = match docs.get("extends_documentation_fragment") {
        None => return,
        Some(Value::String(one)) => vec![one.clone()],
        Some(list) => strings(list).into_iter().collect(),
    };
    for full in names {
        let name = full
            .strip_prefix("os_migrate.vmware_migration_kit.")
            .unwrap_or_else(|| panic!("{module}: doc fragment {full} is not this collection's"));
        // `file.attr` names the fragment file's ATTR block, as ansible-doc reads it.
        let (name, block) = match name.split_once('.') {
            Some((file, attr)) => (file, attr.to_uppercase()),
            None => (name, "DOCUMENTATION".to_string()),
        };
        let path = modules_dir().join(format!("../doc_fragments/{name}.py"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{module}: doc fragment {}: {e}", path.display()));
        let fragment: Value = serde_norway::from_str(&python_block(&path, &text, &block))
            .unwrap_or_else(|e| panic!("{}: {block} is not YAML: {e}", path.display()));
        descriptions_are_text(name, &block, &fragment);
        let Some(Value::Object(options)) = fragment.get("options").cloned() else {
            panic!("{}: a fragment without options", path.display());
        };
        let own = docs
            .as_object_mut()
            .expect("DOCUMENTATION is a mapping")
            .entry("options")
            .or_insert_with(|| Value::Object(Default::default()))
            .as_object_mut()
            .expect("options is a mapping");
        for (key, option) in options {
            assert!(
                own.insert(key.clone(), option).is_none(),
                "{module}: option {key} is both in DOCUMENTATION and in doc fragment {name}"
            );
        }
    }
}

fn documentation(module: &str) -> Value {
    let path = modules_dir().join(format!("{module}.py"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (every module needs its docs file)", path.display()));
    let block = |name: &str| python_block(&path, &text, name);
    for required in ["EXAMPLES", "RETURN"] {
        let parsed: Value = serde_norway::from_str(&block(required))
            .unwrap_or_else(|e| panic!("{module}: {required} is not YAML: {e}"));
        assert!(!parsed.is_null(), "{module}: {required} is empty");
        if required == "RETURN" {
            descriptions_are_text(module, "RETURN", &parsed);
            return_keys_are_known(module, "RETURN", &parsed);
        }
    }
    let mut docs: Value = serde_norway::from_str(&block("DOCUMENTATION"))
        .unwrap_or_else(|e| panic!("{module}: DOCUMENTATION is not YAML: {e}"));
    descriptions_are_text(module, "DOCUMENTATION", &docs);
    merge_fragments(module, &mut docs);
    docs
}

/// A comma inside an unquoted `{description: …}` flow mapping splits it into bogus keys.
fn return_keys_are_known(module: &str, path: &str, value: &Value) {
    const KNOWN: &[&str] = &[
        "description",
        "returned",
        "type",
        "sample",
        "contains",
        "elements",
        "version_added",
    ];
    let Value::Object(entries) = value else {
        return;
    };
    for (name, entry) in entries {
        let Value::Object(fields) = entry else {
            continue;
        };
        for key in fields.keys() {
            assert!(
                KNOWN.contains(&key.as_str()),
                "{module}: {path}.{name} has the key {key:?}: quote its description"
            );
        }
        if let Some(contains) = fields.get("contains") {
            return_keys_are_known(module, &format!("{path}.{name}"), contains);
        }
    }
}

/// An unquoted `: ` inside a description line turns it into a mapping, which ansible-doc and
/// validate-modules refuse; catch it here, where it is quick to see.
fn descriptions_are_text(module: &str, path: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let here = format!("{path}.{key}");
                if key == "description" {
                    let text = match item {
                        Value::String(_) => true,
                        Value::Array(lines) => lines.iter().all(Value::is_string),
                        _ => false,
                    };
                    assert!(
                        text,
                        "{module}: {here} must be text (quote a line holding ': '): {item}"
                    );
                } else {
                    descriptions_are_text(module, &here, item);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| descriptions_are_text(module, path, item)),
        _ => {}
    }
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| match s {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn compare(module: &str, arg: &ArgSpec, doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |what: &str, code: String, docs: String| {
        if code != docs {
            problems.push(format!(
                "{module}.{}: {what} is {code} in the code but {docs} in DOCUMENTATION",
                arg.name
            ));
        }
    };
    let doc_type = doc["type"].as_str().unwrap_or("str");
    check("type", arg.arg_type.ansible_name().into(), doc_type.into());
    // An option the environment can give is not required of the task, as the VMware
    // collections document VMWARE_HOST & co.; its description names the variables.
    check(
        "required",
        (arg.required && arg.env.is_empty()).to_string(),
        doc["required"].as_bool().unwrap_or(false).to_string(),
    );
    for var in arg.env {
        check(
            &format!("the fallback to {var} (said in the description)"),
            "said".into(),
            if doc["description"].to_string().contains(var) {
                "said"
            } else {
                "not said"
            }
            .into(),
        );
    }
    // Ansible's documentation schema has no `no_log` key (validate-modules rejects it), so a
    // secret option says so in its description instead.
    check(
        "no_log (said as \"(no_log)\" in the description)",
        arg.no_log.to_string(),
        doc["description"]
            .to_string()
            .contains("(no_log)")
            .to_string(),
    );
    check(
        "a `no_log` key (validate-modules rejects it)",
        "absent".into(),
        if doc.get("no_log").is_some() {
            "present"
        } else {
            "absent"
        }
        .into(),
    );
    check(
        "default",
        format!("{:?}", arg.default_value()),
        format!("{:?}", doc.get("default").filter(|d| !d.is_null()).cloned()),
    );
    check(
        "aliases",
        format!(
            "{:?}",
            arg.aliases
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>()
        ),
        format!("{:?}", strings(&doc["aliases"])),
    );
    check(
        "choices",
        format!(
            "{:?}",
            arg.choices
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>()
        ),
        format!("{:?}", strings(&doc["choices"])),
    );
    check(
        "elements",
        format!("{:?}", arg.elements.map(|e| e.ansible_name())),
        format!("{:?}", doc["elements"].as_str()),
    );
    problems
}

#[test]
fn every_module_documents_exactly_its_arguments() {
    let mut problems = Vec::new();
    for module in MODULES {
        let docs = documentation(module.name);
        assert_eq!(docs["module"], module.name, "DOCUMENTATION.module");
        let options = docs["options"].as_object().cloned().unwrap_or_default();
        let spec = (module.spec)();
        for arg in spec {
            match options.get(arg.name) {
                None => problems.push(format!(
                    "{}.{}: accepted by the code but not in DOCUMENTATION",
                    module.name, arg.name
                )),
                Some(doc) => problems.extend(compare(module.name, arg, doc)),
            }
        }
        for name in options.keys() {
            if !spec.iter().any(|a| a.name == name) {
                problems.push(format!(
                    "{}.{name}: in DOCUMENTATION but not accepted by the code",
                    module.name
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_docs_file_belongs_to_a_module() {
    for entry in std::fs::read_dir(modules_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(module) = name.strip_suffix(".py") {
            assert!(
                MODULES.iter().any(|m| m.name == module),
                "plugins/modules/{name} documents a module the executable does not have"
            );
        }
    }
}

/// The docs-only `.py` files of an Apache-2.0 collection trip `missing-gplv3-license`; that one
/// line per module and ansible-core version is the only sanity ignore allowed.
#[test]
fn sanity_ignores_are_only_the_license_lines() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sanity");
    let expected: BTreeSet<String> = MODULES
        .iter()
        .map(|m| {
            format!(
                "plugins/modules/{}.py validate-modules:missing-gplv3-license",
                m.name
            )
        })
        .collect();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: BTreeSet<String> = text.lines().map(str::to_string).collect();
        assert_eq!(lines, expected, "{}", path.display());
        files += 1;
    }
    assert!(
        files >= 4,
        "ignore files for each supported ansible-core version"
    );
}

/// ansible-test's pep8 check refuses lines over 160 characters in the docs files; say so here,
/// seconds into the Rust tests rather than at the end of the suite.
#[test]
fn docs_files_keep_within_pep8_line_length() {
    let plugins = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins");
    let mut long = Vec::new();
    for dir in ["modules", "doc_fragments"] {
        for entry in std::fs::read_dir(plugins.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "py") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (number, line) in text.lines().enumerate() {
                if line.chars().count() > 160 {
                    long.push(format!("{}:{}", path.display(), number + 1));
                }
            }
        }
    }
    assert!(long.is_empty(), "lines over 160 characters: {long:?}");
}
