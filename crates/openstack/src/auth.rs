//! Keystone v3 authentication (`POST /v3/auth/tokens`) and the service catalog it returns.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::config::{
    ApplicationCredentialRef, CloudConfig, Credentials, DomainRef, ProjectRef, UserRef,
};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::service::{Interface, ServiceType};

/// A token and what Keystone said about it.
#[derive(Debug, Clone)]
pub struct Token {
    pub(crate) value: Secret,
    pub expires_at: Option<SystemTime>,
    pub project_id: Option<String>,
    pub user_id: Option<String>,
    /// The names of the roles the token carries on its project.
    pub roles: Vec<String>,
    pub catalog: Catalog,
}

/// The identity endpoint with its `/v3` (openstacksdk discovers it; we only speak v3).
pub fn identity_url(auth_url: &str) -> Result<Url> {
    let trimmed = auth_url.trim().trim_end_matches('/');
    let with_version = if trimmed.ends_with("/v3") {
        trimmed.to_owned()
    } else if trimmed.ends_with("/v2.0") {
        return Err(Error::Config(format!(
            "auth_url {auth_url} is Keystone v2.0; give the v3 endpoint"
        )));
    } else {
        format!("{trimmed}/v3")
    };
    Url::parse(&with_version)
        .map_err(|e| Error::Config(format!("auth_url {auth_url:?} is not a URL: {e}")))
}

/// The body of `POST /v3/auth/tokens` for the configured credentials and scope.
pub fn token_request_body(config: &CloudConfig) -> Result<Value> {
    let identity = match &config.credentials {
        Credentials::Password { user, password } => json!({
            "methods": ["password"],
            "password": { "user": with_secret(user_json(user), "password", password) },
        }),
        Credentials::ApplicationCredential { credential, secret } => {
            let credential = match credential {
                ApplicationCredentialRef::Id(id) => json!({ "id": id }),
                ApplicationCredentialRef::Name { name, user } => {
                    json!({ "name": name, "user": user_json(user) })
                }
            };
            json!({
                "methods": ["application_credential"],
                "application_credential": with_secret(credential, "secret", secret),
            })
        }
        Credentials::Token { token } => json!({
            "methods": ["token"],
            "token": { "id": token.expose() },
        }),
    };
    let mut auth = json!({ "identity": identity });
    match (&config.credentials, &config.project) {
        (Credentials::ApplicationCredential { .. }, _) => {}
        (_, Some(project)) => {
            auth["scope"] = json!({ "project": project_json(project) });
        }
        (_, None) => {
            return Err(Error::Config(format!(
                "cloud {:?}: no project_id or project_name; volumes and servers need a project-scoped token",
                config.name
            )));
        }
    }
    Ok(json!({ "auth": auth }))
}

fn with_secret(mut object: Value, key: &str, secret: &Secret) -> Value {
    object[key] = Value::String(secret.expose().to_owned());
    object
}

fn user_json(user: &UserRef) -> Value {
    match user {
        UserRef::Id(id) => json!({ "id": id }),
        UserRef::Name { name, domain } => json!({ "name": name, "domain": domain_json(domain) }),
    }
}

fn project_json(project: &ProjectRef) -> Value {
    match project {
        ProjectRef::Id(id) => json!({ "id": id }),
        ProjectRef::Name { name, domain } => {
            json!({ "name": name, "domain": domain_json(domain) })
        }
    }
}

fn domain_json(domain: &DomainRef) -> Value {
    match domain {
        DomainRef::Id(id) => json!({ "id": id }),
        DomainRef::Name(name) => json!({ "name": name }),
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: TokenBody,
}

#[derive(Deserialize)]
struct TokenBody {
    expires_at: Option<String>,
    #[serde(default)]
    catalog: Vec<CatalogService>,
    project: Option<IdOnly>,
    user: Option<IdOnly>,
    #[serde(default)]
    roles: Vec<NameOnly>,
}

#[derive(Deserialize)]
struct NameOnly {
    name: String,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// Reads Keystone's answer; the token itself travels in the `X-Subject-Token` header.
pub fn parse_token_response(
    subject_token: Secret,
    body: &[u8],
) -> std::result::Result<Token, String> {
    let response: TokenResponse = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let token = response.token;
    let expires_at = match token.expires_at.as_deref() {
        Some(text) => Some(parse_iso8601(text).ok_or_else(|| format!("bad expires_at {text:?}"))?),
        None => None,
    };
    Ok(Token {
        value: subject_token,
        expires_at,
        project_id: token.project.map(|p| p.id),
        user_id: token.user.map(|u| u.id),
        roles: token.roles.into_iter().map(|r| r.name).collect(),
        catalog: Catalog {
            services: token.catalog,
        },
    })
}

/// `2026-11-22T05:00:00.000000Z` (Keystone always answers in UTC).
fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let text = text.trim().trim_end_matches('Z');
    let text = text.split_once('+').map_or(text, |(t, _)| t);
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let time = time.split_once('.').map_or(time, |(t, _)| t);
    let mut time_parts = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (
        time_parts.next()??,
        time_parts.next()??,
        time_parts.next()??,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// The services and endpoints a token may use.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Catalog {
    pub services: Vec<CatalogService>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogService {
    #[serde(rename = "type")]
    pub service_type: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub endpoints: Vec<CatalogEndpoint>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CatalogEndpoint {
    pub interface: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub region_id: Option<String>,
    pub url: String,
}

impl Catalog {
    /// The endpoint of `service` for the interface and region, with our API version in its path.
    pub fn endpoint(
        &self,
        service: ServiceType,
        interface: Interface,
        region: Option<&str>,
        project_id: Option<&str>,
    ) -> Result<Url> {
        let entries: Vec<&CatalogService> = service
            .catalog_types()
            .iter()
            .flat_map(|t| self.services.iter().filter(move |s| s.service_type == *t))
            .collect();
        if entries.is_empty() {
            return Err(Error::Config(format!(
                "the service catalog has no {} service (types {})",
                service.display_name(),
                service.catalog_types().join(", ")
            )));
        }
        let in_region = |e: &&CatalogEndpoint| match region {
            None => true,
            Some(region) => {
                e.region.as_deref() == Some(region) || e.region_id.as_deref() == Some(region)
            }
        };
        let found = entries.iter().find_map(|s| {
            s.endpoints
                .iter()
                .filter(in_region)
                .find(|e| Interface::parse(&e.interface) == Some(interface))
        });
        let Some(endpoint) = found else {
            let mut offered: Vec<String> = entries
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .map(|e| {
                    format!(
                        "{}/{}",
                        e.region
                            .as_deref()
                            .or(e.region_id.as_deref())
                            .unwrap_or("-"),
                        e.interface
                    )
                })
                .collect();
            offered.sort();
            offered.dedup();
            return Err(Error::Config(format!(
                "the catalog has no {} endpoint for interface {} in region {} (it offers region/interface: {})",
                service.display_name(),
                interface.as_str(),
                region.unwrap_or("(any)"),
                offered.join(", ")
            )));
        };
        versioned_endpoint(service, &endpoint.url, project_id)
    }
}

/// Catalogs list Neutron unversioned and sometimes Nova or Cinder too; add the version we speak.
fn versioned_endpoint(service: ServiceType, raw: &str, project_id: Option<&str>) -> Result<Url> {
    let mut url = Url::parse(raw).map_err(|e| {
        Error::Config(format!(
            "the catalog's {} endpoint {raw:?} is not a URL: {e}",
            service.display_name()
        ))
    })?;
    let has_version = url
        .path_segments()
        .map(|mut segments| {
            segments.any(|s| {
                s.len() > 1
                    && s.starts_with('v')
                    && s[1..].chars().all(|c| c.is_ascii_digit() || c == '.')
            })
        })
        .unwrap_or(false);
    if !has_version && let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(service.version_segment());
        if service == ServiceType::BlockStorage
            && let Some(project_id) = project_id
        {
            segments.push(project_id);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture_token() -> Token {
        parse_token_response(
            Secret::new("gAAAAAB-fixture"),
            include_bytes!("../fixtures/keystone_token.json"),
        )
        .expect("fixture parses")
    }

    #[test]
    fn token_fixture_gives_project_user_and_expiry() {
        let token = fixture_token();
        assert_eq!(
            token.project_id.as_deref(),
            Some("8d6c4ef0a3f24d0e9a7b5c2d1e0f9a8b")
        );
        assert_eq!(
            token.user_id.as_deref(),
            Some("5b1c7a9e2f3d4c6b8a0e1f2d3c4b5a69")
        );
        assert_eq!(token.roles, ["member", "reader"]);
        let expires = token.expires_at.expect("expiry");
        assert_eq!(
            expires
                .duration_since(UNIX_EPOCH)
                .expect("after epoch")
                .as_secs(),
            1_795_323_600
        );
    }

    #[test]
    fn catalog_picks_interface_and_region() {
        let catalog = fixture_token().catalog;
        let cinder = catalog
            .endpoint(
                ServiceType::BlockStorage,
                Interface::Public,
                Some("RegionOne"),
                None,
            )
            .expect("cinder");
        assert_eq!(
            cinder.as_str(),
            "https://cloud.example.org:8776/v3/8d6c4ef0a3f24d0e9a7b5c2d1e0f9a8b"
        );
        let cinder_internal = catalog
            .endpoint(
                ServiceType::BlockStorage,
                Interface::Internal,
                Some("RegionOne"),
                None,
            )
            .expect("cinder internal");
        assert_eq!(
            cinder_internal.as_str(),
            "http://10.0.0.5:8776/v3/8d6c4ef0a3f24d0e9a7b5c2d1e0f9a8b"
        );
        let nova_two = catalog
            .endpoint(
                ServiceType::Compute,
                Interface::Public,
                Some("RegionTwo"),
                None,
            )
            .expect("nova RegionTwo");
        assert_eq!(nova_two.as_str(), "https://two.example.org:8774/v2.1");
        let neutron = catalog
            .endpoint(
                ServiceType::Network,
                Interface::Public,
                Some("RegionOne"),
                None,
            )
            .expect("neutron");
        assert_eq!(neutron.as_str(), "https://cloud.example.org:9696/v2.0");
    }

    #[test]
    fn missing_region_names_what_the_catalog_offers() {
        let err = fixture_token()
            .catalog
            .endpoint(
                ServiceType::Network,
                Interface::Public,
                Some("RegionX"),
                None,
            )
            .expect_err("no such region");
        let text = err.to_string();
        assert!(text.contains("RegionX"), "{text}");
        assert!(text.contains("RegionOne/public"), "{text}");
    }

    #[test]
    fn unversioned_cinder_gets_version_and_project() {
        let url = versioned_endpoint(
            ServiceType::BlockStorage,
            "http://127.0.0.1:8776/",
            Some("p1"),
        )
        .expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:8776/v3/p1");
    }

    #[test]
    fn token_request_bodies_for_each_method() {
        let password = CloudConfig::from_value(
            "c",
            &json!({"auth": {"auth_url": "u", "username": "migrator", "password": "pw",
                "project_name": "migration", "user_domain_name": "Corp"}}),
        )
        .expect("config");
        assert_eq!(
            token_request_body(&password).expect("body"),
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": "migrator", "domain": {"name": "Corp"}, "password": "pw"}}},
                "scope": {"project": {"name": "migration", "domain": {"name": "Corp"}}}
            }})
        );
        let appcred = CloudConfig::from_value(
            "c",
            &json!({"auth": {"auth_url": "u", "application_credential_name": "ac",
                "application_credential_secret": "s", "username": "migrator"}}),
        )
        .expect("config");
        assert_eq!(
            token_request_body(&appcred).expect("body"),
            json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": {"name": "ac", "secret": "s",
                    "user": {"name": "migrator", "domain": {"id": "default"}}}}}})
        );
        let unscoped =
            CloudConfig::from_value("c", &json!({"auth": {"auth_url": "u", "token": "t"}}))
                .expect("config");
        let err = token_request_body(&unscoped).expect_err("needs a project");
        assert!(err.to_string().contains("project"), "{err}");
    }

    #[test]
    fn identity_url_adds_v3_and_refuses_v2() {
        assert_eq!(
            identity_url("http://127.0.0.1:5000").expect("ok").as_str(),
            "http://127.0.0.1:5000/v3"
        );
        assert_eq!(
            identity_url("http://127.0.0.1:5000/v3/")
                .expect("ok")
                .as_str(),
            "http://127.0.0.1:5000/v3"
        );
        assert!(identity_url("http://127.0.0.1:5000/v2.0").is_err());
    }

    #[test]
    fn expiry_parses_with_and_without_fraction() {
        let a = parse_iso8601("2026-11-22T05:00:00.000000Z").expect("a");
        let b = parse_iso8601("2026-11-22T05:00:00Z").expect("b");
        assert_eq!(a, b);
        assert_eq!(
            parse_iso8601("1970-01-02T00:00:01Z"),
            Some(UNIX_EPOCH + Duration::from_secs(86_401))
        );
        assert_eq!(parse_iso8601("garbage"), None);
    }
}
