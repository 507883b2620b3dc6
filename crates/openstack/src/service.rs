//! The services we talk to and how the catalog names them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceType {
    Identity,
    Compute,
    BlockStorage,
    Network,
}

impl ServiceType {
    /// Catalog types accepted for the service, preferred first (older clouds say `volumev3`).
    pub fn catalog_types(self) -> &'static [&'static str] {
        match self {
            ServiceType::Identity => &["identity"],
            ServiceType::Compute => &["compute"],
            ServiceType::BlockStorage => &["block-storage", "volumev3", "volume"],
            ServiceType::Network => &["network"],
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            ServiceType::Identity => "Keystone",
            ServiceType::Compute => "Nova",
            ServiceType::BlockStorage => "Cinder",
            ServiceType::Network => "Neutron",
        }
    }

    /// The path segment of the API version we speak, appended when the catalog URL lacks it.
    pub(crate) fn version_segment(self) -> &'static str {
        match self {
            ServiceType::Identity => "v3",
            ServiceType::Compute => "v2.1",
            ServiceType::BlockStorage => "v3",
            ServiceType::Network => "v2.0",
        }
    }

    /// The service name in the `OpenStack-API-Version` header.
    pub(crate) fn microversion_name(self) -> &'static str {
        match self {
            ServiceType::Identity => "identity",
            ServiceType::Compute => "compute",
            ServiceType::BlockStorage => "volume",
            ServiceType::Network => "network",
        }
    }
}

impl fmt::Display for ServiceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// Which endpoint of the catalog to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interface {
    #[default]
    Public,
    Internal,
    Admin,
}

impl Interface {
    /// Accepts the spellings clouds.yaml and `OS_INTERFACE` use (`publicURL` too).
    pub fn parse(text: &str) -> Option<Interface> {
        match text.trim().to_ascii_lowercase().trim_end_matches("url") {
            "public" => Some(Interface::Public),
            "internal" => Some(Interface::Internal),
            "admin" => Some(Interface::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }
}
