//! NBD URIs as the NBD URI specification writes them: `nbd://HOST[:PORT]/EXPORT` and
//! `nbd+unix:///EXPORT?socket=PATH`.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;

pub const DEFAULT_PORT: u16 = 10809;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NbdUri {
    pub endpoint: Endpoint,
    pub export: String,
}

impl NbdUri {
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::Uri {
            uri: text.to_owned(),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        let export = percent_decode(url.path().strip_prefix('/').unwrap_or(url.path()))
            .ok_or_else(|| invalid("export name is not valid UTF-8"))?;
        let endpoint = match url.scheme() {
            "nbd" => {
                let host = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| invalid("missing host"))?;
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                Endpoint::Tcp {
                    host,
                    port: url.port().unwrap_or(DEFAULT_PORT),
                }
            }
            "nbd+unix" => {
                if url.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err(invalid("a Unix socket URI has no host"));
                }
                let socket = url
                    .query_pairs()
                    .find(|(k, _)| k == "socket")
                    .map(|(_, v)| PathBuf::from(v.into_owned()))
                    .ok_or_else(|| invalid("missing ?socket=PATH"))?;
                Endpoint::Unix(socket)
            }
            "nbds" | "nbds+unix" => return Err(invalid("TLS is not supported")),
            _ => return Err(invalid("scheme must be nbd or nbd+unix")),
        };
        Ok(NbdUri { endpoint, export })
    }

    /// Unix-socket URI for `socket` and `export`.
    pub fn unix(socket: impl Into<PathBuf>, export: &str) -> Self {
        NbdUri {
            endpoint: Endpoint::Unix(socket.into()),
            export: export.to_owned(),
        }
    }
}

impl fmt::Display for NbdUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.endpoint {
            Endpoint::Unix(path) => {
                write!(f, "nbd+unix:///{}?socket={}", self.export, path.display())
            }
            Endpoint::Tcp { host, port } if host.contains(':') => {
                write!(f, "nbd://[{host}]:{port}/{}", self.export)
            }
            Endpoint::Tcp { host, port } => write!(f, "nbd://{host}:{port}/{}", self.export),
        }
    }
}

impl std::str::FromStr for NbdUri {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        NbdUri::parse(s)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_uri() {
        let u = NbdUri::parse("nbd+unix:///disk%201?socket=/tmp/a%20b.sock").unwrap();
        assert_eq!(u.endpoint, Endpoint::Unix("/tmp/a b.sock".into()));
        assert_eq!(u.export, "disk 1");
        let u = NbdUri::parse("nbd+unix://?socket=/s").unwrap();
        assert_eq!(u.export, "");
    }

    #[test]
    fn parses_tcp_uri_with_default_port() {
        let u = NbdUri::parse("nbd://127.0.0.1:10900/exp").unwrap();
        assert_eq!(
            u.endpoint,
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 10900
            }
        );
        assert_eq!(u.export, "exp");
        let u = NbdUri::parse("nbd://[::1]/").unwrap();
        assert_eq!(
            u.endpoint,
            Endpoint::Tcp {
                host: "::1".into(),
                port: DEFAULT_PORT
            }
        );
        assert_eq!(u.to_string(), "nbd://[::1]:10809/");
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "nbd+unix:///x",
            "http://h/x",
            "nbds://h/x",
            "nbd:///x",
            "not a uri",
        ] {
            assert!(NbdUri::parse(bad).is_err(), "{bad}");
        }
    }
}
