use serde::Serialize;
use serde_json::{Map, Value};

/// A module's result: `changed`, `msg`, and the module's own return keys.
#[derive(Debug, Default, Clone)]
pub struct Response {
    pub changed: bool,
    pub failed: bool,
    pub msg: Option<String>,
    pub data: Map<String, Value>,
    /// Before/after, shown by `ansible-playbook --diff`.
    pub diff: Option<Value>,
}

impl Response {
    pub fn new() -> Self {
        Self::default()
    }

    /// A failure that still carries results, e.g. per-VM outcomes of a batch.
    pub fn failed(msg: impl Into<String>) -> Self {
        Self {
            failed: true,
            msg: Some(msg.into()),
            ..Self::default()
        }
    }

    pub fn changed(mut self, changed: bool) -> Self {
        self.changed = changed;
        self
    }

    pub fn msg(mut self, msg: impl Into<String>) -> Self {
        self.msg = Some(msg.into());
        self
    }

    /// Adds a return key.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &str, value: impl Serialize) {
        let value = serde_json::to_value(value)
            .unwrap_or_else(|e| Value::String(format!("<value could not be serialized: {e}>")));
        self.data.insert(key.to_string(), value);
    }

    pub fn with_diff(mut self, before: impl Serialize, after: impl Serialize) -> Self {
        let before = serde_json::to_value(before).unwrap_or(Value::Null);
        let after = serde_json::to_value(after).unwrap_or(Value::Null);
        self.diff = Some(serde_json::json!({"before": before, "after": after}));
        self
    }
}
