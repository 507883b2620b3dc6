//! The vSphere connection arguments shared by the vSphere modules and CLI subcommands, and the
//! login with errors that say which argument to fix.

use ansible_module::{ModuleArgs, Secret};
use anyhow::{Context as _, anyhow, bail};
use serde::Deserialize;
use vsphere::{Client, ConnectOptions, FaultKind, Password, Thumbprint, TlsMode};

/// The connection options of every vSphere module, flattened into each one's arguments
/// (`#[serde(flatten)] #[arg(flatten)]`); documented once in plugins/doc_fragments/vsphere.py.
#[derive(Debug, Deserialize, ModuleArgs)]
pub struct VsphereConnectionArgs {
    /// vCenter or ESXi: `host`, `host:port` or `https://host/sdk`.
    #[arg(aliases = ["vcenter_hostname", "hostname"], env = ["VMWARE_HOST"])]
    pub server: String,
    #[arg(aliases = ["vcenter_username", "username"], env = ["VMWARE_USER"])]
    pub user: String,
    #[arg(no_log, aliases = ["vcenter_password"], env = ["VMWARE_PASSWORD"])]
    pub password: Secret,
    /// Skip certificate checks.
    #[arg(default = false)]
    pub vmware_insecure: bool,
    /// The inverse of `vmware_insecure` (as in vmware.vmware); unset, `VMWARE_VALIDATE_CERTS`
    /// when no other certificate option is given.
    pub validate_certs: Option<bool>,
    /// Pin the server certificate: SHA-1 (as vSphere shows it) or SHA-256.
    pub thumbprint: Option<String>,
    /// Trust only the certificates of this PEM file.
    #[arg(type = "path")]
    pub ca_file: Option<String>,
}

impl VsphereConnectionArgs {
    pub(crate) fn connection(&self) -> anyhow::Result<Connection<'_>> {
        let validate_certs = match self.validate_certs {
            Some(given) => Some(given),
            None => self.validate_certs_from(std::env::var("VMWARE_VALIDATE_CERTS").ok())?,
        };
        Ok(Connection {
            server: &self.server,
            user: &self.user,
            password: &self.password,
            vmware_insecure: self.vmware_insecure,
            validate_certs,
            thumbprint: self.thumbprint.as_deref(),
            ca_file: self.ca_file.as_deref(),
        })
    }

    /// `VMWARE_VALIDATE_CERTS` counts only when the task says nothing about certificates: AAP's
    /// VMware credential always sets it (False by default), and it must not contradict a
    /// `vmware_insecure`, `thumbprint` or `ca_file` the task gives.
    fn validate_certs_from(&self, env: Option<String>) -> anyhow::Result<Option<bool>> {
        let Some(text) = env.filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        if self.vmware_insecure || self.thumbprint.is_some() || self.ca_file.is_some() {
            return Ok(None);
        }
        match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "y" | "t" => Ok(Some(true)),
            "0" | "false" | "no" | "off" | "n" | "f" => Ok(Some(false)),
            _ => bail!(
                "the environment variable VMWARE_VALIDATE_CERTS is {text:?}: set it to true or \
                 false, or give validate_certs"
            ),
        }
    }
}

/// How to reach and trust vCenter or ESXi.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connection<'a> {
    pub server: &'a str,
    pub user: &'a str,
    pub password: &'a Secret,
    pub vmware_insecure: bool,
    /// The inverse of `vmware_insecure`, when given.
    pub validate_certs: Option<bool>,
    pub thumbprint: Option<&'a str>,
    pub ca_file: Option<&'a str>,
}

impl Connection<'_> {
    pub(crate) fn tls_mode(&self) -> anyhow::Result<TlsMode> {
        let insecure = match self.validate_certs {
            Some(validate) if validate == self.vmware_insecure && self.vmware_insecure => bail!(
                "vmware_insecure: true and validate_certs: true contradict each other; set only one"
            ),
            Some(validate) => !validate,
            None => self.vmware_insecure,
        };
        let pins = [self.thumbprint.is_some(), self.ca_file.is_some(), insecure];
        if pins.iter().filter(|p| **p).count() > 1 {
            bail!(
                "give at most one of thumbprint, ca_file and vmware_insecure (validate_certs: false)"
            );
        }
        Ok(match (self.thumbprint, self.ca_file) {
            (Some(thumbprint), _) => TlsMode::Thumbprint(
                thumbprint
                    .parse::<Thumbprint>()
                    .map_err(|e| anyhow!("argument 'thumbprint': {e}"))?,
            ),
            (None, Some(file)) => TlsMode::CaFile(file.into()),
            (None, None) if insecure => TlsMode::Insecure,
            (None, None) => TlsMode::Verify,
        })
    }

    pub(crate) async fn connect(&self) -> anyhow::Result<Client> {
        let options = ConnectOptions {
            server: self.server.to_owned(),
            user: self.user.to_owned(),
            password: Password::new(self.password.expose()),
            tls: self.tls_mode()?,
        };
        Client::connect(&options).await.map_err(|e| {
            // The pin's own words (vsphere's tls.rs), somewhere in the TLS error's chain.
            let pin_refused = matches!(&e, vsphere::Error::Transport { message, .. }
                if message.contains("does not match the pinned"));
            let hint = match e.fault().map(|f| &f.kind) {
                Some(FaultKind::InvalidLogin) => "check vcenter_username and vcenter_password \
                     (module arguments 'user' and 'password')"
                    .to_owned(),
                _ if pin_refused => "the server's certificate is not the one the argument \
                     'thumbprint' (the roles' vcenter_thumbprint) pins: compare it with the \
                     certificate vCenter shows now, SHA-1 or SHA-256, and correct it"
                    .to_owned(),
                _ => match &e {
                    vsphere::Error::Transport { .. } => {
                        "check vcenter_hostname (argument 'server'), and the certificate settings \
                         vcenter_thumbprint, vcenter_ca_file, vmware_insecure (arguments thumbprint, \
                         ca_file, vmware_insecure)"
                            .to_owned()
                    }
                    vsphere::Error::Tls(_) => "check vcenter_thumbprint or vcenter_ca_file \
                         (arguments 'thumbprint', 'ca_file')"
                        .to_owned(),
                    _ => "check vcenter_hostname (argument 'server')".to_owned(),
                },
            };
            anyhow!(e).context(format!(
                "cannot log in to vSphere at {} as {} ({hint})",
                self.server, self.user
            ))
        })
    }
}

/// Logs out at the end of a run; a failure here changes nothing for the result.
pub(crate) async fn logout(client: &Client) {
    if let Err(e) = client.logout().await.context("logout") {
        tracing::debug!("{e:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(insecure: bool, thumbprint: Option<&str>) -> VsphereConnectionArgs {
        VsphereConnectionArgs {
            server: "vc".into(),
            user: "u".into(),
            password: Secret::new("pw-unit-1"),
            vmware_insecure: insecure,
            validate_certs: None,
            thumbprint: thumbprint.map(str::to_owned),
            ca_file: None,
        }
    }

    #[test]
    fn vmware_validate_certs_counts_only_when_the_task_says_nothing() {
        let env = |v: &str| Some(v.to_owned());
        assert_eq!(
            args(false, None).validate_certs_from(env("False")).ok(),
            Some(Some(false)),
            "AAP writes Python's False"
        );
        assert_eq!(
            args(false, None).validate_certs_from(env("True")).ok(),
            Some(Some(true))
        );
        assert_eq!(args(false, None).validate_certs_from(None).ok(), Some(None));
        // A pin or vmware_insecure given by the task wins over AAP's default False.
        assert_eq!(
            args(false, Some("AA:BB"))
                .validate_certs_from(env("False"))
                .ok(),
            Some(None)
        );
        assert_eq!(
            args(true, None).validate_certs_from(env("True")).ok(),
            Some(None)
        );
        let err = args(false, None)
            .validate_certs_from(env("maybe"))
            .expect_err("not a bool");
        assert!(err.to_string().contains("VMWARE_VALIDATE_CERTS"), "{err}");
    }
}
