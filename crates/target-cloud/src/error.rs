use thiserror::Error;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    OpenStack(#[from] openstack::Error),

    /// Something the caller gave cannot work; the text says what to change.
    #[error("{0}")]
    Invalid(String),

    /// A resource with our name exists but was not made by the migration.
    #[error("{0}")]
    Foreign(String),
}
