//! TLS settings: verified (system roots or a CA file), insecure, or a certificate thumbprint pin.
//!
//! vCenter and ESXi often present a self-signed certificate that is its own CA, which rustls
//! refuses even when that certificate is given as the trust root (`CaUsedAsEndEntity`); pinning the
//! thumbprint vSphere shows (`AA:BB:…`, SHA-1 or SHA-256) is the safe way to trust such a host.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, Once};

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

impl ServerCertificate {
    pub fn from_der(der: Vec<u8>) -> Self {
        Self {
            sha1: Thumbprint::sha1_of(&der),
            sha256: Thumbprint::sha256_of(&der),
            der,
        }
    }

    /// The certificate as a PEM block (for tools that take a CA file, like curl's `cainfo`).
    pub fn to_pem(&self) -> String {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// Whether the certificate's subject alternative names cover `host` (a DNS name or an IP
    /// address), as a TLS client that checks names (curl) would require.
    pub fn names_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let der = CertificateDer::from(self.der.as_slice());
        let (Ok(name), Ok(parsed)) = (
            ServerName::try_from(host),
            rustls::server::ParsedCertificate::try_from(&der),
        ) else {
            return false;
        };
        rustls::client::verify_server_name(&parsed, &name).is_ok()
    }
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

/// The certificate of the server's side of the SOAP connection, recorded by the verifier of
/// that very connection: only a certificate that passed the check the user asked for (CA or
/// pin), and whose handshake signature then proved the server holds its key, is kept. Other
/// clients of the same server (VDDK's thumbprint, curl's CA file) are given this one, so no
/// second, unchecked connection decides what they trust.
#[derive(Debug, Default)]
pub(crate) struct PeerCertificate {
    /// Passed the certificate check; waiting for the handshake signature.
    checked: Mutex<Vec<Vec<u8>>>,
    proven: Mutex<Option<ServerCertificate>>,
}

/// More than the connections one client opens at once; older entries are dropped.
const CHECKED_KEPT: usize = 8;

impl PeerCertificate {
    pub(crate) fn get(&self) -> Option<ServerCertificate> {
        self.proven.lock().ok().and_then(|p| p.clone())
    }

    fn checked(&self, der: &[u8]) {
        if let Ok(mut checked) = self.checked.lock()
            && !checked.iter().any(|c| c == der)
        {
            if checked.len() >= CHECKED_KEPT {
                checked.remove(0);
            }
            checked.push(der.to_vec());
        }
    }

    fn proven(&self, der: &[u8]) {
        let passed = self
            .checked
            .lock()
            .is_ok_and(|checked| checked.iter().any(|c| c == der));
        if passed && let Ok(mut proven) = self.proven.lock() {
            *proven = Some(ServerCertificate::from_der(der.to_vec()));
        }
    }
}

/// Applies a TLS mode to a reqwest client builder; the returned record fills in as
/// connections are made.
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    mode: &TlsMode,
) -> Result<(reqwest::ClientBuilder, Arc<PeerCertificate>), Error> {
    let provider = provider();
    let check: Arc<dyn ServerCertVerifier> = match mode {
        TlsMode::Verify => Arc::new(
            rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| {
                Error::Tls(format!(
                    "cannot load the system's trusted CAs ({e}); give a CA file or a thumbprint"
                ))
            })?,
        ),
        TlsMode::CaFile(path) => ca_file_verifier(path, provider.clone())?,
        TlsMode::Insecure => Arc::new(LeafCheck {
            pin: None,
            provider: provider.clone(),
        }),
        TlsMode::Thumbprint(pin) => Arc::new(LeafCheck {
            pin: Some(pin.clone()),
            provider: provider.clone(),
        }),
    };
    let peer = Arc::new(PeerCertificate::default());
    let verifier = Arc::new(Recording {
        check,
        peer: peer.clone(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("no TLS version in common with rustls: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((builder.tls_backend_preconfigured(config), peer))
}

fn ca_file_verifier(
    path: &std::path::Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path)
        .map_err(|e| Error::Tls(format!("cannot read CA file {}: {e}", path.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| {
            Error::Tls(format!(
                "CA file {} holds a malformed PEM certificate: {e}",
                path.display()
            ))
        })?;
        roots.add(cert).map_err(|e| {
            Error::Tls(format!(
                "CA file {} holds a certificate that cannot be a trust root: {e}",
                path.display()
            ))
        })?;
    }
    if roots.is_empty() {
        return Err(Error::Tls(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map(|v| v as Arc<dyn ServerCertVerifier>)
        .map_err(|e| Error::Tls(format!("CA file {}: {e}", path.display())))
}

/// Runs the check the user chose and records what passed it in [`PeerCertificate`].
#[derive(Debug)]
struct Recording {
    check: Arc<dyn ServerCertVerifier>,
    peer: Arc<PeerCertificate>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.check.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        self.peer.checked(end_entity);
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let valid = self.check.verify_tls12_signature(message, cert, dss)?;
        self.peer.proven(cert);
        Ok(valid)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let valid = self.check.verify_tls13_signature(message, cert, dss)?;
        self.peer.proven(cert);
        Ok(valid)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.check.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.check.requires_raw_public_keys()
    }
}

/// Checks the leaf certificate against a pin, or (`vmware_insecure`, the original's
/// `validate_certs: false`) accepts any leaf as the user asked. Handshake signatures are verified
/// either way, so the server holds the private key of the certificate recorded for VDDK's
/// thumbprint.
#[derive(Debug)]
struct LeafCheck {
    pin: Option<Thumbprint>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for LeafCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pin) = &self.pin else {
            return Ok(ServerCertVerified::assertion());
        };
        if pin.matches(end_entity) {
            return Ok(ServerCertVerified::assertion());
        }
        let actual = match pin {
            Thumbprint::Sha1(_) => Thumbprint::sha1_of(end_entity),
            Thumbprint::Sha256(_) => Thumbprint::sha256_of(end_entity),
        };
        Err(rustls::Error::General(format!(
            "server certificate thumbprint {actual} does not match the pinned {pin}"
        )))
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
