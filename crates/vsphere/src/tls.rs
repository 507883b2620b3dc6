//! TLS settings: verified (system roots or a CA file), insecure, or a certificate thumbprint pin.
//!
//! vCenter and ESXi often present a self-signed certificate that is its own CA, which rustls
//! refuses even when that certificate is given as the trust root (`CaUsedAsEndEntity`); pinning the
//! thumbprint vSphere shows (`AA:BB:…`, SHA-1 or SHA-256) is the safe way to trust such a host.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use sha1::Digest;

use crate::error::Error;

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Against the system's trust store.
    #[default]
    Verify,
    /// Against the certificates of a PEM file only.
    CaFile(PathBuf),
    /// The leaf certificate must have this thumbprint (name and chain are not checked).
    Thumbprint(Thumbprint),
    /// No check at all (the original's `vmware_insecure` / `validate_certs: false`).
    Insecure,
}

/// A certificate fingerprint: SHA-1 (20 bytes, as vSphere and VDDK show it) or SHA-256 (32 bytes).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Thumbprint {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

impl Thumbprint {
    pub fn sha1_of(der: &[u8]) -> Self {
        Self::Sha1(sha1::Sha1::digest(der).into())
    }

    pub fn sha256_of(der: &[u8]) -> Self {
        Self::Sha256(sha2::Sha256::digest(der).into())
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Sha1(b) => b,
            Self::Sha256(b) => b,
        }
    }

    /// Whether a DER certificate has this thumbprint.
    pub fn matches(&self, der: &[u8]) -> bool {
        let actual = match self {
            Self::Sha1(_) => Self::sha1_of(der),
            Self::Sha256(_) => Self::sha256_of(der),
        };
        actual == *self
    }
}

impl fmt::Display for Thumbprint {
    /// Upper-case hex pairs joined by `:`, as the vSphere client shows them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.bytes().iter().map(|b| format!("{b:02X}")).collect();
        f.write_str(&pairs.join(":"))
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Thumbprint({self})")
    }
}

impl FromStr for Thumbprint {
    type Err = Error;

    /// Accepts `AA:BB:…`, `aa-bb-…`, or plain hex; 40 hex digits are SHA-1, 64 are SHA-256.
    /// An optional `sha1:` / `sha256:` prefix is checked against the length.
    fn from_str(s: &str) -> Result<Self, Error> {
        let trimmed = s.trim();
        let (declared, rest) = match trimmed.split_once(':') {
            Some((algo, rest)) if algo.eq_ignore_ascii_case("sha1") => (Some(20), rest),
            Some((algo, rest)) if algo.eq_ignore_ascii_case("sha256") => (Some(32), rest),
            _ => (None, trimmed),
        };
        let digits: String = rest
            .chars()
            .filter(|c| !matches!(c, ':' | '-' | ' '))
            .collect();
        let bytes = hex::decode(&digits)
            .map_err(|_| Error::Tls(format!("thumbprint {trimmed:?} is not hexadecimal")))?;
        if declared.is_some_and(|len| len != bytes.len()) {
            return Err(Error::Tls(format!(
                "thumbprint {trimmed:?} does not have the length its algorithm needs"
            )));
        }
        match bytes.len() {
            20 => Ok(Self::Sha1(bytes.try_into().unwrap_or([0; 20]))),
            32 => Ok(Self::Sha256(bytes.try_into().unwrap_or([0; 32]))),
            n => Err(Error::Tls(format!(
                "thumbprint {trimmed:?} has {n} bytes; expected 20 (SHA-1) or 32 (SHA-256)"
            ))),
        }
    }
}

/// A server's leaf certificate and both its thumbprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    /// The certificate, DER-encoded.
    pub der: Vec<u8>,
    pub sha1: Thumbprint,
    pub sha256: Thumbprint,
}

/// Installs rustls' ring provider as the process default (reqwest is built without one).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another part of the program may have installed one already; that one is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn provider() -> Arc<CryptoProvider> {
    install_crypto_provider();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Applies a TLS mode to a reqwest client builder.
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    mode: &TlsMode,
) -> Result<reqwest::ClientBuilder, Error> {
    install_crypto_provider();
    Ok(match mode {
        TlsMode::Verify => builder,
        TlsMode::CaFile(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| Error::Tls(format!("cannot read CA file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Tls(format!(
                    "CA file {} holds no PEM certificate: {e}",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(Error::Tls(format!(
                    "CA file {} holds no PEM certificate",
                    path.display()
                )));
            }
            builder.tls_certs_only(certs)
        }
        TlsMode::Insecure => builder.tls_danger_accept_invalid_certs(true),
        TlsMode::Thumbprint(pin) => {
            builder.tls_backend_preconfigured(client_config(Arc::new(PinVerifier {
                pin: PinCheck::Thumbprint(pin.clone()),
                provider: provider(),
            })))
        }
    })
}

fn client_config(verifier: Arc<dyn ServerCertVerifier>) -> rustls::ClientConfig {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|_| rustls::ClientConfig::builder())
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

#[derive(Debug)]
enum PinCheck {
    Thumbprint(Thumbprint),
    /// Accept anything and remember the leaf certificate (to read a host's thumbprint).
    Record(Arc<Mutex<Option<Vec<u8>>>>),
}

/// Checks the leaf certificate against a pin; handshake signatures are still verified, so the
/// server must hold the pinned certificate's private key.
#[derive(Debug)]
struct PinVerifier {
    pin: PinCheck,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pin {
            PinCheck::Thumbprint(pin) if pin.matches(end_entity) => {
                Ok(ServerCertVerified::assertion())
            }
            PinCheck::Thumbprint(pin) => {
                let actual = match pin {
                    Thumbprint::Sha1(_) => Thumbprint::sha1_of(end_entity),
                    Thumbprint::Sha256(_) => Thumbprint::sha256_of(end_entity),
                };
                Err(rustls::Error::General(format!(
                    "server certificate thumbprint {actual} does not match the pinned {pin}"
                )))
            }
            PinCheck::Record(slot) => {
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(end_entity.to_vec());
                }
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Reads the certificate a TLS server presents at `host:port`, with its SHA-1 and SHA-256
/// thumbprints (nbdkit's vddk plugin wants the SHA-1 one as `thumbprint=`). Trusts nothing: it
/// only reads.
pub async fn read_server_certificate(host: &str, port: u16) -> Result<ServerCertificate, Error> {
    let slot = Arc::new(Mutex::new(None));
    let config = client_config(Arc::new(PinVerifier {
        pin: PinCheck::Record(slot.clone()),
        provider: provider(),
    }));
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::Tls(format!("cannot build an HTTPS client: {e}")))?;
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let url = format!("https://{authority}/");
    // Any HTTP answer, even an error status, comes after the handshake that recorded the certificate.
    let outcome = client.get(&url).send().await;
    let der = slot.lock().ok().and_then(|mut s| s.take());
    match (der, outcome) {
        (Some(der), _) => Ok(ServerCertificate {
            sha1: Thumbprint::sha1_of(&der),
            sha256: Thumbprint::sha256_of(&der),
            der,
        }),
        (None, Err(e)) => Err(Error::Transport {
            url,
            message: crate::soap::error_chain(&e),
        }),
        (None, Ok(_)) => Err(Error::Tls(format!("{url} presented no certificate"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vsphere_style_thumbprints() {
        let sha1 = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd";
        let t: Thumbprint = sha1.parse().unwrap();
        assert!(matches!(t, Thumbprint::Sha1(_)));
        assert_eq!(t.to_string(), sha1.to_uppercase());
        let sha256 = "sha256:".to_owned() + &"0f".repeat(32);
        assert!(matches!(
            sha256.parse::<Thumbprint>().unwrap(),
            Thumbprint::Sha256(_)
        ));
        assert!("sha1:".to_owned().parse::<Thumbprint>().is_err());
        assert!(
            format!("sha1:{}", "00".repeat(32))
                .parse::<Thumbprint>()
                .is_err()
        );
        assert!("zz".parse::<Thumbprint>().is_err());
        assert!("AA:BB".parse::<Thumbprint>().is_err());
    }

    #[test]
    fn thumbprint_matches_its_certificate() {
        let der = b"not really a certificate";
        assert!(Thumbprint::sha1_of(der).matches(der));
        assert!(Thumbprint::sha256_of(der).matches(der));
        assert!(!Thumbprint::sha256_of(der).matches(b"other"));
    }
}
