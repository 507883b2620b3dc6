//! Managed object references: `<x type="VirtualMachine">vm-42</x>`.

use std::fmt;

use crate::error::Error;
use crate::xml::Element;

/// A managed object reference, e.g. `VirtualMachine:vm-42`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct MoRef {
    /// The managed object type (`VirtualMachine`, `Folder`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The server's identifier (`vm-42`).
    pub value: String,
}

impl MoRef {
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            value: value.into(),
        }
    }

    pub fn virtual_machine(value: impl Into<String>) -> Self {
        Self::new("VirtualMachine", value)
    }

    pub(crate) fn from_element(element: &Element) -> Result<Self, Error> {
        let kind = element.ref_type.as_deref().ok_or_else(|| {
            Error::decode(format!(
                "<{}> is not a managed object reference",
                element.name
            ))
        })?;
        let value = element.text.trim();
        if value.is_empty() {
            return Err(Error::decode(format!(
                "<{}> has an empty reference",
                element.name
            )));
        }
        Ok(Self::new(kind, value))
    }

    pub(crate) fn child(element: &Element, name: &str) -> Result<Option<Self>, Error> {
        element.child(name).map(Self::from_element).transpose()
    }
}

impl fmt::Display for MoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl std::str::FromStr for MoRef {
    type Err = Error;

    /// Parses `Type:value` (`VirtualMachine:vm-42`) or a bare `vm-42`, taken as a VirtualMachine.
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Config("empty managed object reference".into()));
        }
        Ok(match s.split_once(':') {
            Some((kind, value)) if !kind.is_empty() && !value.is_empty() => Self::new(kind, value),
            Some(_) => return Err(Error::Config(format!("bad managed object reference {s:?}"))),
            None => Self::virtual_machine(s),
        })
    }
}
