//! Pre-migration validation: pure functions over the exported VM data (`migration-data`'s
//! `guest_info.json` with its `vmkit` key), so the same checks run on a live inventory or on a
//! data directory. Rule ids and categories follow Forklift's VMware rules where one exists.

pub mod finding;
pub mod guest_os;
pub mod hostname;
pub mod plan;
pub mod rules;

pub use finding::{FailOn, Finding, Severity};
pub use plan::{MigrationType, Plan, Transport, validate};
pub use rules::{RULES, Rule};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown rule id(s) in skip_rules: {}; known ids: {}", unknown.join(", "), known.join(", "))]
    UnknownRules {
        unknown: Vec<String>,
        known: Vec<&'static str>,
    },
    #[error(
        "VM {0}: guest_info.json has no `vmkit` key (written by the original collection?); export it again with vmkit"
    )]
    MissingVmkit(String),
}
