//! Which cloud to talk to and how to authenticate, read the way every OpenStack tool reads it:
//! `clouds.yaml` (+ `secure.yaml`) on the standard search path, `OS_CLOUD`, the `OS_*` environment,
//! or a cloud given inline as a dict in the original collection's shape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::service::Interface;

/// Everything needed to authenticate against one cloud and pick its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudConfig {
    /// The cloud's name in clouds.yaml, `envvars` for the environment, `inline` for a dict.
    pub name: String,
    pub auth_url: String,
    pub credentials: Credentials,
    /// The project to scope the token to; application credentials carry their own.
    pub project: Option<ProjectRef>,
    pub region_name: Option<String>,
    pub interface: Interface,
    /// False turns TLS certificate verification off (`verify: false`, `insecure: true`).
    pub verify: bool,
    /// A PEM bundle that replaces the system's trust roots.
    pub cacert: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Password {
        user: UserRef,
        password: Secret,
    },
    ApplicationCredential {
        credential: ApplicationCredentialRef,
        secret: Secret,
    },
    Token {
        token: Secret,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationCredentialRef {
    Id(String),
    /// A name is only unique per user, so the user must be given too.
    Name {
        name: String,
        user: UserRef,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectRef {
    Id(String),
    Name { name: String, domain: DomainRef },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRef {
    Id(String),
    Name(String),
}

/// How a caller names the cloud: a clouds.yaml entry, or a whole cloud as a dict.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudArg {
    Name(String),
    Inline(Value),
}

impl CloudArg {
    /// Reads a module's `cloud`/`dst_cloud` argument: a string names a cloud, a dict is the cloud,
    /// null or an empty string means "not given".
    pub fn from_value(value: &Value) -> Result<Option<CloudArg>> {
        match value {
            Value::Null => Ok(None),
            Value::String(name) if name.trim().is_empty() => Ok(None),
            Value::String(name) => Ok(Some(CloudArg::Name(name.trim().to_owned()))),
            Value::Object(_) => Ok(Some(CloudArg::Inline(value.clone()))),
            other => Err(Error::Config(format!(
                "the cloud must be a cloud name or a dict, not {other}"
            ))),
        }
    }
}

/// Reads configuration from an explicit environment, so tests need not touch the process's.
#[derive(Debug, Clone)]
pub struct ConfigLoader {
    env: BTreeMap<String, String>,
    current_dir: PathBuf,
    home_dir: Option<PathBuf>,
    system_dir: PathBuf,
}

const CONFIG_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

impl ConfigLoader {
    pub fn from_process() -> ConfigLoader {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let home_dir = env.get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        ConfigLoader {
            env,
            current_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            home_dir,
            system_dir: PathBuf::from("/etc/openstack"),
        }
    }

    pub fn new(
        env: BTreeMap<String, String>,
        current_dir: PathBuf,
        home_dir: Option<PathBuf>,
        system_dir: PathBuf,
    ) -> ConfigLoader {
        ConfigLoader {
            env,
            current_dir,
            home_dir,
            system_dir,
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Resolves the cloud: an explicit argument first, then `OS_CLOUD`, then the `OS_*` environment.
    /// An inline dict without `auth.auth_url` takes its credentials from the environment (as the
    /// original did) and its own non-empty values on top.
    pub fn load(&self, cloud: Option<&CloudArg>) -> Result<CloudConfig> {
        match cloud {
            Some(CloudArg::Name(name)) => self.load_named(name),
            Some(CloudArg::Inline(value)) => {
                let inline = strip_empty(value.clone());
                let has_auth_url = inline
                    .pointer("/auth/auth_url")
                    .and_then(Value::as_str)
                    .is_some();
                if has_auth_url {
                    CloudConfig::from_value("inline", &inline)
                } else if let Some(mut env) = self.environment_cloud() {
                    deep_merge(&mut env, inline);
                    CloudConfig::from_value("inline", &env)
                } else {
                    Err(Error::Config(
                        "the cloud dict has no auth.auth_url and OS_AUTH_URL is not set".into(),
                    ))
                }
            }
            None => {
                if let Some(name) = self.var("OS_CLOUD") {
                    return self.load_named(name);
                }
                if let Some(env) = self.environment_cloud() {
                    return CloudConfig::from_value("envvars", &env);
                }
                self.load_only_cloud()
            }
        }
    }

    /// Nothing names a cloud: the one cloud of clouds.yaml, as openstacksdk does. AAP's
    /// OpenStack credential relies on it: its file (OS_CLIENT_CONFIG_FILE) holds one cloud,
    /// `devstack`, and nothing else names it.
    fn load_only_cloud(&self) -> Result<CloudConfig> {
        let nothing = "no cloud given: pass a cloud name or dict, or set OS_CLOUD, the OS_AUTH_URL \
                       environment, or OS_CLIENT_CONFIG_FILE to a clouds.yaml with one cloud";
        let Some(clouds_file) = self.find_file("OS_CLIENT_CONFIG_FILE", "clouds")? else {
            return Err(Error::Config(nothing.into()));
        };
        let names: Vec<String> = read_document(&clouds_file)?
            .get("clouds")
            .and_then(Value::as_object)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        match names.as_slice() {
            [only] => self.load_named(only),
            [] => Err(Error::Config(format!(
                "{nothing} ({} has no clouds)",
                clouds_file.display()
            ))),
            several => Err(Error::Config(format!(
                "no cloud given and {} has several ({}): name one (OS_CLOUD, or the cloud argument)",
                clouds_file.display(),
                several.join(", ")
            ))),
        }
    }

    fn load_named(&self, name: &str) -> Result<CloudConfig> {
        let Some(clouds_file) = self.find_file("OS_CLIENT_CONFIG_FILE", "clouds")? else {
            return Err(Error::Config(format!(
                "cloud {name:?} asked for, but no clouds.yaml was found (searched {})",
                display_paths(&self.search_paths("clouds"))
            )));
        };
        let mut document = read_document(&clouds_file)?;
        if let Some(secure_file) = self.find_file("OS_CLIENT_SECURE_FILE", "secure")? {
            deep_merge(&mut document, read_document(&secure_file)?);
        }
        let clouds = document.get("clouds").and_then(Value::as_object);
        let Some(entry) = clouds.and_then(|c| c.get(name)) else {
            let known: Vec<&str> = clouds
                .map(|c| c.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(Error::Config(format!(
                "cloud {name:?} is not in {} (clouds there: {})",
                clouds_file.display(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        };
        CloudConfig::from_value(name, &strip_empty(entry.clone()))
    }

    /// The standard search path: current directory, user config directory, system directory.
    pub fn search_paths(&self, stem: &str) -> Vec<PathBuf> {
        let mut dirs = vec![self.current_dir.clone()];
        let config_home = self
            .var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| self.home_dir.as_ref().map(|h| h.join(".config")));
        if let Some(config_home) = config_home {
            dirs.push(config_home.join("openstack"));
        }
        dirs.push(self.system_dir.clone());
        dirs.iter()
            .flat_map(|dir| {
                CONFIG_EXTENSIONS
                    .iter()
                    .map(move |ext| dir.join(format!("{stem}.{ext}")))
            })
            .collect()
    }

    /// The file named by `override_var`, else the first one on the search path.
    fn find_file(&self, override_var: &str, stem: &str) -> Result<Option<PathBuf>> {
        if let Some(path) = self.var(override_var) {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(Some(path))
            } else {
                Err(Error::Config(format!(
                    "{override_var}={} does not name a readable file",
                    path.display()
                )))
            };
        }
        Ok(self.search_paths(stem).into_iter().find(|p| p.is_file()))
    }

    /// The cloud the `OS_*` variables describe, in clouds.yaml shape; None without `OS_AUTH_URL`.
    fn environment_cloud(&self) -> Option<Value> {
        self.var("OS_AUTH_URL")?;
        const AUTH_VARS: [(&str, &str); 18] = [
            ("OS_AUTH_URL", "auth_url"),
            ("OS_USERNAME", "username"),
            ("OS_USER_ID", "user_id"),
            ("OS_PASSWORD", "password"),
            ("OS_TENANT_NAME", "project_name"),
            ("OS_PROJECT_NAME", "project_name"),
            ("OS_TENANT_ID", "project_id"),
            ("OS_PROJECT_ID", "project_id"),
            ("OS_USER_DOMAIN_NAME", "user_domain_name"),
            ("OS_USER_DOMAIN_ID", "user_domain_id"),
            ("OS_PROJECT_DOMAIN_NAME", "project_domain_name"),
            ("OS_PROJECT_DOMAIN_ID", "project_domain_id"),
            ("OS_DOMAIN_NAME", "domain_name"),
            ("OS_DOMAIN_ID", "domain_id"),
            ("OS_APPLICATION_CREDENTIAL_ID", "application_credential_id"),
            (
                "OS_APPLICATION_CREDENTIAL_NAME",
                "application_credential_name",
            ),
            (
                "OS_APPLICATION_CREDENTIAL_SECRET",
                "application_credential_secret",
            ),
            ("OS_TOKEN", "token"),
        ];
        const TOP_VARS: [(&str, &str); 7] = [
            ("OS_AUTH_TYPE", "auth_type"),
            ("OS_REGION_NAME", "region_name"),
            ("OS_ENDPOINT_TYPE", "interface"),
            ("OS_INTERFACE", "interface"),
            ("OS_IDENTITY_API_VERSION", "identity_api_version"),
            ("OS_CACERT", "cacert"),
            ("OS_INSECURE", "insecure"),
        ];
        let mut auth = Map::new();
        for (var, key) in AUTH_VARS {
            if let Some(value) = self.var(var) {
                auth.insert(key.to_owned(), Value::String(value.to_owned()));
            }
        }
        let mut cloud = Map::new();
        for (var, key) in TOP_VARS {
            if let Some(value) = self.var(var) {
                cloud.insert(key.to_owned(), Value::String(value.to_owned()));
            }
        }
        cloud.insert("auth".to_owned(), Value::Object(auth));
        Some(Value::Object(cloud))
    }
}

impl CloudConfig {
    /// Builds a cloud from one clouds.yaml entry (or a dict of the same shape).
    pub fn from_value(name: &str, value: &Value) -> Result<CloudConfig> {
        let bad = |what: String| Error::Config(format!("cloud {name:?}: {what}"));
        let Some(cloud) = value.as_object() else {
            return Err(bad("the cloud must be a dict".into()));
        };
        let empty = Map::new();
        let auth = match cloud.get("auth") {
            Some(Value::Object(auth)) => auth,
            None => &empty,
            Some(_) => return Err(bad("auth must be a dict".into())),
        };
        let auth_url =
            text(auth, "auth_url").ok_or_else(|| bad("auth.auth_url is missing".into()))?;

        if let Some(version) = text(cloud, "identity_api_version")
            && !version.starts_with('3')
        {
            return Err(bad(format!(
                "identity_api_version {version} is not supported; only Keystone v3 is"
            )));
        }

        let auth_type = text(cloud, "auth_type").map(|t| t.to_ascii_lowercase());
        let credentials = match auth_type.as_deref() {
            Some("password" | "v3password") => password_credentials(auth).map_err(bad)?,
            Some(
                "v3applicationcredential" | "applicationcredential" | "application_credential",
            ) => application_credentials(auth).map_err(bad)?,
            Some("token" | "v3token") => token_credentials(auth).map_err(bad)?,
            Some(other) => {
                return Err(bad(format!(
                    "auth_type {other:?} is not supported (use password, v3applicationcredential or token)"
                )));
            }
            None if text(auth, "application_credential_secret").is_some() => {
                application_credentials(auth).map_err(bad)?
            }
            None if text(auth, "token").is_some() && text(auth, "password").is_none() => {
                token_credentials(auth).map_err(bad)?
            }
            None => password_credentials(auth).map_err(bad)?,
        };
        let project = match credentials {
            Credentials::ApplicationCredential { .. } => None,
            _ => project_ref(auth),
        };

        let interface = match text(cloud, "interface").or_else(|| text(cloud, "endpoint_type")) {
            Some(text) => Interface::parse(&text).ok_or_else(|| {
                bad(format!(
                    "interface {text:?} is not one of public, internal, admin"
                ))
            })?,
            None => Interface::Public,
        };

        let region_name = text(cloud, "region_name").or_else(|| first_region(cloud));

        let insecure = flag(cloud, "insecure").map_err(bad)?.unwrap_or(false)
            || flag(cloud, "openstack_insecure")
                .map_err(bad)?
                .unwrap_or(false);
        let verify = !insecure && flag(cloud, "verify").map_err(bad)?.unwrap_or(true);
        let cacert = text(cloud, "cacert")
            .or_else(|| text(cloud, "ca_cert"))
            .map(PathBuf::from);

        Ok(CloudConfig {
            name: name.to_owned(),
            auth_url,
            credentials,
            project,
            region_name,
            interface,
            verify,
            cacert,
        })
    }
}

impl CloudConfig {
    /// The cloud as one clouds.yaml entry that [`CloudConfig::from_value`] reads back as this
    /// same cloud: how a cloud resolved on one host (the controller) is handed to another.
    /// Holds the secret in the clear.
    pub fn to_value(&self) -> Value {
        let mut auth = Map::new();
        let mut put = |key: &str, value: &str| {
            auth.insert(key.to_owned(), Value::String(value.to_owned()));
        };
        put("auth_url", &self.auth_url);
        let put_user = |put: &mut dyn FnMut(&str, &str), user: &UserRef| match user {
            UserRef::Id(id) => put("user_id", id),
            UserRef::Name { name, domain } => {
                put("username", name);
                match domain {
                    DomainRef::Id(id) => put("user_domain_id", id),
                    DomainRef::Name(name) => put("user_domain_name", name),
                }
            }
        };
        let auth_type = match &self.credentials {
            Credentials::Password { user, password } => {
                put_user(&mut put, user);
                put("password", password.expose());
                "password"
            }
            Credentials::ApplicationCredential { credential, secret } => {
                match credential {
                    ApplicationCredentialRef::Id(id) => put("application_credential_id", id),
                    ApplicationCredentialRef::Name { name, user } => {
                        put("application_credential_name", name);
                        put_user(&mut put, user);
                    }
                }
                put("application_credential_secret", secret.expose());
                "v3applicationcredential"
            }
            Credentials::Token { token } => {
                put("token", token.expose());
                "token"
            }
        };
        match &self.project {
            Some(ProjectRef::Id(id)) => put("project_id", id),
            Some(ProjectRef::Name { name, domain }) => {
                put("project_name", name);
                match domain {
                    DomainRef::Id(id) => put("project_domain_id", id),
                    DomainRef::Name(name) => put("project_domain_name", name),
                }
            }
            None => {}
        }
        let mut cloud = Map::new();
        cloud.insert("auth_type".into(), Value::String(auth_type.into()));
        cloud.insert("auth".into(), Value::Object(auth));
        if let Some(region) = &self.region_name {
            cloud.insert("region_name".into(), Value::String(region.clone()));
        }
        cloud.insert(
            "interface".into(),
            Value::String(self.interface.as_str().into()),
        );
        cloud.insert("verify".into(), Value::Bool(self.verify));
        if let Some(cacert) = &self.cacert {
            cloud.insert(
                "cacert".into(),
                Value::String(cacert.to_string_lossy().into_owned()),
            );
        }
        Value::Object(cloud)
    }
}

fn password_credentials(auth: &Map<String, Value>) -> std::result::Result<Credentials, String> {
    let user = user_ref(auth).ok_or("auth has neither username nor user_id")?;
    let password = text(auth, "password").ok_or("auth.password is missing")?;
    Ok(Credentials::Password {
        user,
        password: Secret::new(password),
    })
}

fn application_credentials(auth: &Map<String, Value>) -> std::result::Result<Credentials, String> {
    let secret = text(auth, "application_credential_secret")
        .ok_or("auth.application_credential_secret is missing")?;
    let credential = if let Some(id) = text(auth, "application_credential_id") {
        ApplicationCredentialRef::Id(id)
    } else if let Some(name) = text(auth, "application_credential_name") {
        let user = user_ref(auth)
            .ok_or("application_credential_name needs username or user_id beside it")?;
        ApplicationCredentialRef::Name { name, user }
    } else {
        return Err(
            "auth has neither application_credential_id nor application_credential_name".into(),
        );
    };
    Ok(Credentials::ApplicationCredential {
        credential,
        secret: Secret::new(secret),
    })
}

fn token_credentials(auth: &Map<String, Value>) -> std::result::Result<Credentials, String> {
    let token = text(auth, "token").ok_or("auth.token is missing")?;
    Ok(Credentials::Token {
        token: Secret::new(token),
    })
}

/// A user named without a domain lives in `default`, as Keystone's own tools assume.
fn user_ref(auth: &Map<String, Value>) -> Option<UserRef> {
    if let Some(id) = text(auth, "user_id") {
        return Some(UserRef::Id(id));
    }
    let name = text(auth, "username")?;
    let domain = domain_ref(auth, &["user_domain", "domain"]);
    Some(UserRef::Name { name, domain })
}

/// A project named without its own domain falls back to `domain_*`, then to the user's domain.
fn project_ref(auth: &Map<String, Value>) -> Option<ProjectRef> {
    if let Some(id) = text(auth, "project_id").or_else(|| text(auth, "tenant_id")) {
        return Some(ProjectRef::Id(id));
    }
    let name = text(auth, "project_name").or_else(|| text(auth, "tenant_name"))?;
    let domain = domain_ref(auth, &["project_domain", "domain", "user_domain"]);
    Some(ProjectRef::Name { name, domain })
}

fn domain_ref(auth: &Map<String, Value>, prefixes: &[&str]) -> DomainRef {
    for prefix in prefixes {
        if let Some(id) = text(auth, &format!("{prefix}_id")) {
            return DomainRef::Id(id);
        }
        if let Some(name) = text(auth, &format!("{prefix}_name")) {
            return DomainRef::Name(name);
        }
    }
    DomainRef::Id("default".to_owned())
}

fn first_region(cloud: &Map<String, Value>) -> Option<String> {
    match cloud.get("regions")?.as_array()?.first()? {
        Value::String(name) => Some(name.clone()),
        Value::Object(region) => text(region, "name"),
        _ => None,
    }
}

/// A non-empty string value; numbers count too (`project_id: 12345` in YAML).
fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A boolean that may arrive as a YAML bool or as a string from Ansible or the environment.
fn flag(map: &Map<String, Value>, key: &str) -> std::result::Result<Option<bool>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "yes" | "on" | "1" => Ok(Some(true)),
            "false" | "no" | "off" | "0" => Ok(Some(false)),
            other => Err(format!("{key} must be true or false, not {other:?}")),
        },
        Some(other) => Err(format!("{key} must be true or false, not {other}")),
    }
}

fn read_document(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    let parsed: std::result::Result<Value, String> =
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| e.to_string())
        } else {
            serde_norway::from_str(&text).map_err(|e| e.to_string())
        };
    parsed.map_err(|e| Error::Config(format!("{} is not valid: {e}", path.display())))
}

/// Ansible fills unset options with "" or null; those must not hide values from elsewhere.
fn strip_empty(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !matches!(v, Value::Null) && v.as_str() != Some(""))
                .map(|(k, v)| (k, strip_empty(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Dicts merge key by key; anything else in `overlay` replaces what `base` had.
fn deep_merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                match base.get_mut(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    struct Sandbox {
        dir: tempfile::TempDir,
    }

    impl Sandbox {
        fn new() -> Sandbox {
            let dir = tempfile::tempdir().expect("tempdir");
            for sub in ["cwd", "home/.config/openstack", "etc"] {
                fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
            }
            Sandbox { dir }
        }

        fn path(&self, relative: &str) -> PathBuf {
            self.dir.path().join(relative)
        }

        fn write(&self, relative: &str, text: &str) -> PathBuf {
            let path = self.path(relative);
            fs::write(&path, text).expect("write");
            path
        }

        fn loader(&self, env: &[(&str, &str)]) -> ConfigLoader {
            ConfigLoader::new(
                env.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                self.path("cwd"),
                Some(self.path("home")),
                self.path("etc"),
            )
        }
    }

    const CLOUDS: &str = r#"
clouds:
  prod:
    auth:
      auth_url: https://keystone.example.org:5000/v3
      username: migrator
      project_name: migration
      user_domain_name: Corp
      project_domain_name: CorpProjects
    region_name: RegionTwo
    interface: internal
    identity_api_version: 3
    cacert: /etc/pki/corp.pem
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: http://127.0.0.1:5000
      application_credential_id: 0123abcd
      application_credential_secret: s3cr3t
    verify: false
"#;

    const SECURE: &str = r#"
clouds:
  prod:
    auth:
      password: hunter2
"#;

    #[test]
    fn user_config_dir_is_found_and_secure_yaml_merged() {
        let sandbox = Sandbox::new();
        sandbox.write("home/.config/openstack/clouds.yaml", CLOUDS);
        sandbox.write("home/.config/openstack/secure.yaml", SECURE);
        let config = sandbox
            .loader(&[])
            .load(Some(&CloudArg::Name("prod".into())))
            .expect("prod");
        assert_eq!(config.name, "prod");
        assert_eq!(
            config.credentials,
            Credentials::Password {
                user: UserRef::Name {
                    name: "migrator".into(),
                    domain: DomainRef::Name("Corp".into())
                },
                password: Secret::new("hunter2"),
            }
        );
        assert_eq!(
            config.project,
            Some(ProjectRef::Name {
                name: "migration".into(),
                domain: DomainRef::Name("CorpProjects".into())
            })
        );
        assert_eq!(config.region_name.as_deref(), Some("RegionTwo"));
        assert_eq!(config.interface, Interface::Internal);
        assert!(config.verify);
        assert_eq!(config.cacert, Some(PathBuf::from("/etc/pki/corp.pem")));
    }

    #[test]
    fn current_directory_wins_and_os_client_config_file_wins_over_all() {
        let sandbox = Sandbox::new();
        sandbox.write("home/.config/openstack/clouds.yaml", CLOUDS);
        sandbox.write(
            "cwd/clouds.yaml",
            "clouds:\n  prod:\n    auth: {auth_url: http://cwd:5000, token: t, project_id: p}\n",
        );
        let config = sandbox
            .loader(&[])
            .load(Some(&CloudArg::Name("prod".into())))
            .expect("cwd");
        assert_eq!(config.auth_url, "http://cwd:5000");

        let explicit = sandbox.write(
            "explicit.yaml",
            "clouds:\n  prod:\n    auth: {auth_url: http://explicit:5000, token: t, project_id: p}\n",
        );
        let explicit = explicit.to_string_lossy().into_owned();
        let config = sandbox
            .loader(&[("OS_CLIENT_CONFIG_FILE", &explicit), ("OS_CLOUD", "prod")])
            .load(None)
            .expect("explicit via OS_CLOUD");
        assert_eq!(config.auth_url, "http://explicit:5000");
        assert_eq!(config.credentials, Credentials::Token { token: "t".into() });
    }

    #[test]
    fn xdg_config_home_and_system_dir_are_searched() {
        let sandbox = Sandbox::new();
        fs::create_dir_all(sandbox.path("xdg/openstack")).expect("mkdir");
        sandbox.write("etc/clouds.yaml", CLOUDS);
        let loader = sandbox.loader(&[]);
        assert!(loader.load(Some(&CloudArg::Name("appcred".into()))).is_ok());
        let xdg = sandbox.path("xdg").to_string_lossy().into_owned();
        let paths = sandbox
            .loader(&[("XDG_CONFIG_HOME", &xdg)])
            .search_paths("clouds");
        assert!(paths.contains(&sandbox.path("xdg/openstack/clouds.yaml")));
        assert_eq!(paths.last(), Some(&sandbox.path("etc/clouds.json")));
    }

    #[test]
    fn application_credential_and_verify_false() {
        let sandbox = Sandbox::new();
        sandbox.write("cwd/clouds.yml", CLOUDS);
        let config = sandbox
            .loader(&[])
            .load(Some(&CloudArg::Name("appcred".into())))
            .expect("appcred");
        assert_eq!(
            config.credentials,
            Credentials::ApplicationCredential {
                credential: ApplicationCredentialRef::Id("0123abcd".into()),
                secret: "s3cr3t".into()
            }
        );
        assert_eq!(config.project, None);
        assert!(!config.verify);
    }

    #[test]
    fn unknown_cloud_names_the_file_and_the_clouds_in_it() {
        let sandbox = Sandbox::new();
        let file = sandbox.write("cwd/clouds.yaml", CLOUDS);
        let err = sandbox
            .loader(&[])
            .load(Some(&CloudArg::Name("nope".into())))
            .expect_err("unknown");
        let text = err.to_string();
        assert!(text.contains("\"nope\""), "{text}");
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert!(
            text.contains("prod, appcred") || text.contains("appcred, prod"),
            "{text}"
        );

        let err = Sandbox::new()
            .loader(&[])
            .load(Some(&CloudArg::Name("prod".into())))
            .expect_err("no file");
        assert!(
            err.to_string().contains("no clouds.yaml was found"),
            "{err}"
        );
    }

    #[test]
    fn inline_dict_in_the_original_shape() {
        let arg = CloudArg::from_value(&json!({
            "auth": {
                "auth_url": "http://127.0.0.1:5000/v3",
                "username": "admin",
                "password": "pw",
                "project_id": "",
                "project_name": "admin",
                "user_domain_name": "Default",
                "project_domain_name": "Default"
            },
            "region_name": "RegionOne",
            "interface": "public",
            "identity_api_version": "3",
            "openstack_insecure": "true"
        }))
        .expect("arg")
        .expect("some");
        let config = Sandbox::new().loader(&[]).load(Some(&arg)).expect("inline");
        assert_eq!(config.name, "inline");
        assert_eq!(
            config.project,
            Some(ProjectRef::Name {
                name: "admin".into(),
                domain: DomainRef::Name("Default".into())
            })
        );
        assert!(!config.verify, "openstack_insecure turns verification off");
        assert_eq!(config.region_name.as_deref(), Some("RegionOne"));
    }

    #[test]
    fn inline_dict_without_auth_url_takes_the_environment() {
        let arg = CloudArg::Inline(json!({"auth": {"auth_url": ""}, "region_name": "RegionX"}));
        let config = Sandbox::new()
            .loader(&[
                ("OS_AUTH_URL", "http://env:5000/v3"),
                ("OS_USERNAME", "envuser"),
                ("OS_PASSWORD", "envpw"),
                ("OS_PROJECT_ID", "pid"),
                ("OS_REGION_NAME", "RegionOne"),
                ("OS_INTERFACE", "internalURL"),
            ])
            .load(Some(&arg))
            .expect("env");
        assert_eq!(config.auth_url, "http://env:5000/v3");
        assert_eq!(config.project, Some(ProjectRef::Id("pid".into())));
        assert_eq!(
            config.region_name.as_deref(),
            Some("RegionX"),
            "the dict wins"
        );
        assert_eq!(config.interface, Interface::Internal);
        assert_eq!(
            config.credentials,
            Credentials::Password {
                user: UserRef::Name {
                    name: "envuser".into(),
                    domain: DomainRef::Id("default".into())
                },
                password: "envpw".into()
            }
        );
    }

    #[test]
    fn environment_alone_and_nothing_at_all() {
        let config = Sandbox::new()
            .loader(&[
                ("OS_AUTH_URL", "http://env:5000"),
                ("OS_APPLICATION_CREDENTIAL_NAME", "ac"),
                ("OS_APPLICATION_CREDENTIAL_SECRET", "sec"),
                ("OS_USER_ID", "uid"),
                ("OS_INSECURE", "yes"),
            ])
            .load(None)
            .expect("env");
        assert_eq!(config.name, "envvars");
        assert_eq!(
            config.credentials,
            Credentials::ApplicationCredential {
                credential: ApplicationCredentialRef::Name {
                    name: "ac".into(),
                    user: UserRef::Id("uid".into())
                },
                secret: "sec".into()
            }
        );
        assert!(!config.verify);
        let err = Sandbox::new().loader(&[]).load(None).expect_err("nothing");
        assert!(err.to_string().contains("OS_CLOUD"), "{err}");
    }

    #[test]
    fn the_only_cloud_of_the_file_is_the_default_as_in_openstacksdk() {
        let sandbox = Sandbox::new();
        // What AAP's OpenStack credential writes.
        let file = sandbox.write(
            "aap-env-file",
            "clouds:\n  devstack:\n    auth:\n      auth_url: http://k:5000/v3\n      username: u\n      \
             password: aap-pw-1\n      project_name: p\n      domain_name: Corp\n    verify: false\n",
        );
        let file = file.to_string_lossy().into_owned();
        let config = sandbox
            .loader(&[("OS_CLIENT_CONFIG_FILE", &file)])
            .load(None)
            .expect("the one cloud");
        assert_eq!(config.name, "devstack");
        assert!(!config.verify);
        assert_eq!(
            config.project,
            Some(ProjectRef::Name {
                name: "p".into(),
                domain: DomainRef::Name("Corp".into())
            })
        );

        sandbox.write("cwd/clouds.yaml", CLOUDS);
        let err = sandbox.loader(&[]).load(None).expect_err("two clouds");
        assert!(err.to_string().contains("name one"), "{err}");
    }

    #[test]
    fn to_value_reads_back_as_the_same_cloud() {
        let sandbox = Sandbox::new();
        sandbox.write("cwd/clouds.yaml", CLOUDS);
        sandbox.write("cwd/secure.yaml", SECURE);
        for name in ["prod", "appcred"] {
            let config = sandbox
                .loader(&[])
                .load(Some(&CloudArg::Name(name.into())))
                .expect("cloud");
            let again = CloudConfig::from_value(name, &config.to_value()).expect("reads back");
            assert_eq!(again, config, "{name}");
        }
        for auth in [
            json!({"auth_url": "u", "user_id": "uid", "password": "pw", "project_id": "pid"}),
            json!({"auth_url": "u", "token": "t", "project_name": "p", "domain_id": "d"}),
            json!({"auth_url": "u", "application_credential_name": "ac",
                   "application_credential_secret": "s", "username": "a"}),
        ] {
            let config = CloudConfig::from_value("c", &json!({ "auth": auth })).expect("cloud");
            let again = CloudConfig::from_value("c", &config.to_value()).expect("reads back");
            assert_eq!(again, config);
        }
    }

    #[test]
    fn project_domain_falls_back_to_user_domain() {
        let config = CloudConfig::from_value(
            "c",
            &json!({"auth": {"auth_url": "u", "username": "a", "password": "b",
                "project_name": "p", "user_domain_id": "corp"}}),
        )
        .expect("config");
        assert_eq!(
            config.project,
            Some(ProjectRef::Name {
                name: "p".into(),
                domain: DomainRef::Id("corp".into())
            })
        );
    }

    #[test]
    fn bad_settings_say_what_to_fix() {
        for (value, expected) in [
            (
                json!({"auth": {"username": "a"}}),
                "auth.auth_url is missing",
            ),
            (
                json!({"auth": {"auth_url": "u", "username": "a"}}),
                "auth.password is missing",
            ),
            (
                json!({"auth": {"auth_url": "u", "username": "a", "password": "p"}, "identity_api_version": "2"}),
                "only Keystone v3",
            ),
            (
                json!({"auth": {"auth_url": "u", "token": "t"}, "interface": "outer"}),
                "interface \"outer\"",
            ),
            (
                json!({"auth": {"auth_url": "u", "token": "t"}, "verify": "maybe"}),
                "verify must be true or false",
            ),
            (
                json!({"auth_type": "v3oidc", "auth": {"auth_url": "u"}}),
                "auth_type \"v3oidc\" is not supported",
            ),
        ] {
            let err = CloudConfig::from_value("c", &value).expect_err("bad");
            assert!(err.to_string().contains(expected), "{err} lacks {expected}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let config = CloudConfig::from_value(
            "c",
            &json!({"auth": {"auth_url": "u", "username": "a", "password": "hunter2", "project_id": "p"}}),
        )
        .expect("config");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("Secret(***)"), "{debug}");
    }
}
