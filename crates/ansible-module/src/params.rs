//! From the raw JSON file Ansible writes to validated, canonical parameters.

use serde_json::{Map, Value};

use crate::convert::convert;
use crate::secrets;
use crate::spec::ArgSpec;

/// What Ansible tells every module besides its options.
#[derive(Debug, Clone, Default)]
pub struct AnsibleFlags {
    pub check_mode: bool,
    pub diff: bool,
    pub no_log: bool,
    pub verbosity: u8,
    pub debug: bool,
    pub tmpdir: Option<String>,
}

/// A validated module invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Canonical names, converted types, defaults applied; ready for serde.
    pub params: Map<String, Value>,
    /// What the task gave, by canonical name, secrets masked: for `invocation.module_args`.
    pub module_args: Map<String, Value>,
    pub flags: AnsibleFlags,
    pub warnings: Vec<String>,
}

/// Everything wrong with the arguments, said so the user knows which key and what to do.
#[derive(Debug)]
pub struct ParamError(pub String);

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

fn flag_bool(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"),
        Value::Number(n) => n.as_i64().unwrap_or(0) != 0,
        _ => false,
    }
}

fn read_flags(raw: &Map<String, Value>) -> AnsibleFlags {
    let get = |k: &str| raw.get(k);
    AnsibleFlags {
        check_mode: get("_ansible_check_mode").is_some_and(flag_bool),
        diff: get("_ansible_diff").is_some_and(flag_bool),
        no_log: get("_ansible_no_log").is_some_and(flag_bool),
        verbosity: get("_ansible_verbosity")
            .and_then(Value::as_u64)
            .map_or(0, |v| v.min(u8::MAX as u64) as u8),
        debug: get("_ansible_debug").is_some_and(flag_bool),
        tmpdir: get("_ansible_tmpdir")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

fn supported_list(spec: &[ArgSpec]) -> String {
    let mut names: Vec<String> = spec
        .iter()
        .map(|a| {
            if a.aliases.is_empty() {
                a.name.to_string()
            } else {
                format!("{} ({})", a.name, a.aliases.join(", "))
            }
        })
        .collect();
    names.sort();
    names.join(", ")
}

/// Validates `raw` against `spec` the way Ansible's `AnsibleModule` does. Secrets are registered
/// before anything else happens, so not even an error about them can show them.
pub fn parse_invocation(
    module_name: &str,
    raw: Value,
    spec: &[ArgSpec],
) -> Result<Invocation, ParamError> {
    parse_invocation_in(module_name, raw, spec, &|name| std::env::var(name).ok())
}

/// [`parse_invocation`] with the environment the `env` fallbacks read given by `env`.
pub fn parse_invocation_in(
    module_name: &str,
    raw: Value,
    spec: &[ArgSpec],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Invocation, ParamError> {
    let Value::Object(raw) = raw else {
        return Err(ParamError(
            "the arguments file does not hold a JSON object".into(),
        ));
    };
    let mut warnings = register_secrets(&raw, spec);
    let flags = read_flags(&raw);

    let mut errors = Vec::new();
    let mut given: Map<String, Value> = Map::new();
    let mut unknown = Vec::new();
    for (key, value) in raw {
        if key.starts_with("_ansible_") {
            continue;
        }
        let Some(arg) = spec.iter().find(|a| a.answers_to(&key)) else {
            unknown.push(key);
            continue;
        };
        if let Some(previous) = given.get(arg.name) {
            if previous != &value {
                errors.push(format!(
                    "both option '{}' and its alias '{key}' are set, to different values: set only one",
                    arg.name
                ));
            }
            continue;
        }
        given.insert(arg.name.to_string(), value);
    }
    if !unknown.is_empty() {
        unknown.sort();
        errors.push(format!(
            "Unsupported parameters for ({module_name}) module: {}. Supported parameters include: {}.",
            unknown.join(", "),
            supported_list(spec)
        ));
    }

    let mut params = Map::new();
    let mut module_args = Map::new();
    let mut missing = Vec::new();
    for arg in spec {
        // A null value is what an unset Jinja variable often becomes: treat it as not given.
        let value = given
            .remove(arg.name)
            .filter(|v| !v.is_null())
            .or_else(|| from_env(arg, env, &mut warnings));
        if let Some(value) = &value {
            module_args.insert(
                arg.name.to_string(),
                if arg.no_log {
                    Value::String("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER".into())
                } else {
                    let mut shown = value.clone();
                    secrets::scrub_value(&mut shown);
                    shown
                },
            );
            if let Some(why) = arg.unused {
                warnings.push(format!(
                    "option '{}' is accepted for compatibility with the original collection and has no effect: {why}",
                    arg.name
                ));
            }
        }
        let value = match value {
            Some(v) => v,
            None => match arg.default_value() {
                Some(d) => d,
                None => {
                    if arg.required {
                        missing.push(match arg.env {
                            [] => arg.name.to_owned(),
                            vars => format!(
                                "{} (or the environment variable {})",
                                arg.name,
                                vars.join(" or ")
                            ),
                        });
                    }
                    continue;
                }
            },
        };
        match convert(value, arg.arg_type, arg.elements) {
            Ok((converted, warning)) => {
                if let Some(w) = warning {
                    warnings.push(format!("option '{}': {w}", arg.name));
                }
                if !arg.choices.is_empty()
                    && let Some(bad) = first_outside_choices(&converted, arg.choices)
                {
                    errors.push(format!(
                        "value of {} must be one of: {}, got: {bad}",
                        arg.name,
                        arg.choices.join(", ")
                    ));
                }
                params.insert(arg.name.to_string(), converted);
            }
            Err(e) => errors.push(format!("argument '{}' {}", arg.name, e.0)),
        }
    }
    if !missing.is_empty() {
        errors.insert(
            0,
            format!("missing required arguments: {}", missing.join(", ")),
        );
    }
    if !errors.is_empty() {
        let text = errors.join("; ");
        return Err(ParamError(secrets::scrub_str(&text).into_owned()));
    }
    Ok(Invocation {
        params,
        module_args,
        flags,
        warnings,
    })
}

/// The first non-empty environment variable of the option's `env` fallback, registered as a
/// secret first when the option is one.
fn from_env(
    arg: &ArgSpec,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Option<Value> {
    let (var, value) = arg
        .env
        .iter()
        .find_map(|var| env(var).filter(|v| !v.is_empty()).map(|v| (var, v)))?;
    if arg.no_log && secrets::register(&value) {
        warnings.push(format!(
            "environment variable {var} (option '{}') holds a secret shorter than {} characters: \
             it is weak, and it is masked in the output only where a whole value is the secret",
            arg.name,
            secrets::MIN_MASKED_INSIDE
        ));
    }
    Some(Value::String(value))
}

/// Registers every secret; returns a warning for each option holding a weak (short) one.
fn register_secrets(raw: &Map<String, Value>, spec: &[ArgSpec]) -> Vec<String> {
    let mut weak = Vec::new();
    for (key, value) in raw {
        let short = match spec.iter().find(|a| a.answers_to(key)) {
            Some(arg) if arg.no_log => secrets::register_all(value),
            _ => secrets::register_nested(value),
        };
        if short {
            weak.push(format!(
                "option '{key}' holds a secret shorter than {} characters: it is weak, and it is \
                 masked in the output only where a whole value is the secret",
                secrets::MIN_MASKED_INSIDE
            ));
        }
    }
    weak
}

fn first_outside_choices(value: &Value, choices: &[&str]) -> Option<String> {
    let outside = |v: &Value| {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        (!choices.contains(&text.as_str())).then_some(text)
    };
    match value {
        Value::Array(items) => items.iter().find_map(outside),
        other => outside(other),
    }
}
