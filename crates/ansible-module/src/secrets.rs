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

/// Secrets shorter than this are masked only where a whole string is the secret: masking every
/// occurrence of one or two characters inside other words would show where they are (and so
/// reveal them), and would mangle every message.
pub const MIN_MASKED_INSIDE: usize = 4;

/// Registers `secret`; returns true when it is too short to be masked inside other text
/// (a weak secret the caller should warn about).
pub fn register(secret: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let mut secrets = SECRETS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_string());
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
    is_short(secret)
}

fn is_short(secret: &str) -> bool {
    secret.chars().count() < MIN_MASKED_INSIDE
}

/// Registers every string inside `value` (all of it is secret); true when one is weak.
pub fn register_all(value: &Value) -> bool {
    match value {
        Value::String(s) => register(s),
        Value::Number(n) => register(&n.to_string()),
        Value::Array(items) => items.iter().fold(false, |weak, v| register_all(v) | weak),
        Value::Object(map) => map.values().fold(false, |weak, v| register_all(v) | weak),
        Value::Bool(_) | Value::Null => false,
    }
}

/// Registers the values of password-like keys anywhere inside `value`; true when one is weak.
pub fn register_nested(value: &Value) -> bool {
    match value {
        Value::Array(items) => items
            .iter()
            .fold(false, |weak, v| register_nested(v) | weak),
        Value::Object(map) => map.iter().fold(false, |weak, (key, item)| {
            let this = if is_secret_key(key) {
                register_all(item)
            } else {
                register_nested(item)
            };
            this | weak
        }),
        _ => false,
    }
}

pub fn scrub_str(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if secrets.iter().any(|s| s == text) {
        return Cow::Owned(MASK.to_owned());
    }
    let inside = |s: &&String| !is_short(s) && text.contains(s.as_str());
    if !secrets.iter().any(|s| inside(&s)) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !is_short(s)) {
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
    fn short_secrets_are_masked_only_as_whole_values() {
        assert!(register("q7"));
        assert!(!register("long-enough-pw"));
        assert_eq!(scrub_str("q7"), MASK);
        // Masking "q7" inside words would show where it is, and so reveal it.
        assert_eq!(scrub_str("disk q7q7 of vm-q7"), "disk q7q7 of vm-q7");
        let mut v = json!({"password": "q7", "msg": "aq7b long-enough-pw"});
        scrub_value(&mut v);
        assert_eq!(v, json!({"password": MASK, "msg": "aq7b ********"}));
        assert!(register_nested(&json!({"auth": {"password": "xyz"}})));
        assert!(!register_nested(
            &json!({"auth": {"password": "xyzw", "user": "ab"}})
        ));
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
