//! Every value that must never be shown: `no_log` arguments, and anything under a
//! password-like key inside dict arguments (`dst_cloud.auth.password`). Registered once, right
//! after the arguments are read, and masked in the JSON result, the logs and panic messages.

use std::borrow::Cow;
use std::sync::RwLock;

use serde_json::Value;

/// What a secret is replaced with; Ansible prints the same for `no_log` values.
pub const MASK: &str = "********";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// A `no_log` string. `Debug` and `Display` print the mask, so a secret cannot leak through a
/// log line, an error message or a debug print by accident; `expose` is the one way to read it.
#[derive(Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

/// Key names whose values are secrets wherever they appear inside a dict argument.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "passphrase",
        "private_key",
    ]
    .iter()
    .any(|word| key.contains(word))
        && !key.ends_with("_file")
        && !key.ends_with("_path")
}

pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut secrets = SECRETS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_string());
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Registers every string inside `value` (all of it is secret).
pub fn register_all(value: &Value) {
    match value {
        Value::String(s) => register(s),
        Value::Number(n) => register(&n.to_string()),
        Value::Array(items) => items.iter().for_each(register_all),
        Value::Object(map) => map.values().for_each(register_all),
        Value::Bool(_) | Value::Null => {}
    }
}

/// Registers the values of password-like keys anywhere inside `value`.
pub fn register_nested(value: &Value) {
    match value {
        Value::Array(items) => items.iter().for_each(register_nested),
        Value::Object(map) => {
            for (key, item) in map {
                if is_secret_key(key) {
                    register_all(item);
                } else {
                    register_nested(item);
                }
            }
        }
        _ => {}
    }
}

pub fn scrub_str(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

/// Masks secrets in every string and key of a JSON tree, so the result stays valid JSON.
pub fn scrub_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(clean) = scrub_str(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => {
            let dirty: Vec<String> = map
                .keys()
                .filter(|k| matches!(scrub_str(k), Cow::Owned(_)))
                .cloned()
                .collect();
            for key in dirty {
                if let Some(v) = map.remove(&key) {
                    map.insert(scrub_str(&key).into_owned(), v);
                }
            }
            map.values_mut().for_each(scrub_value);
        }
        Value::Bool(_) | Value::Number(_) | Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_registered_values_in_text_and_json() {
        register("s3cr3t-pass");
        assert_eq!(scrub_str("login with s3cr3t-pass!"), "login with ********!");
        let mut v = json!({"msg": ["x s3cr3t-pass y"], "s3cr3t-pass": 1});
        scrub_value(&mut v);
        assert_eq!(v, json!({"msg": ["x ******** y"], "********": 1}));
    }

    #[test]
    fn secret_type_never_prints_its_value() {
        let s = Secret::new("pw-in-a-box");
        assert_eq!(format!("{s} {s:?}"), "******** ********");
        assert_eq!(s.expose(), "pw-in-a-box");
    }

    #[test]
    fn finds_passwords_nested_in_dicts() {
        register_nested(&json!({"auth": {"username": "admin", "password": "nested-pw-1"}}));
        assert_eq!(scrub_str("nested-pw-1"), MASK);
        assert_eq!(scrub_str("admin"), "admin");
        assert!(is_secret_key("application_credential_secret"));
        assert!(!is_secret_key("password_file"));
    }
}
