//! TLS for the gateway: rustls 0.23 with the `ring` provider only.
//!
//! The certificate comes from `--tls-cert`/`--tls-key` (PEM), or, when
//! neither is given, from a self-signed certificate generated with `rcgen`
//! into the data directory on first start (`saad-gateway-cert.pem`,
//! `saad-gateway-key.pem`, the key readable by its owner only) and reused on
//! later starts. Its names are `localhost`, `127.0.0.1` and `::1`.
//!
//! Only TLS 1.2 and 1.3 are offered (rustls implements nothing older; the
//! list is stated anyway in [`PROTOCOL_VERSIONS`]). ALPN `h2` and
//! `http/1.1` are added by actix-web itself when it wraps the config. TLS
//! key logging is never enabled. Errors name the file they are about.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::SupportedProtocolVersion;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// File name of the generated certificate in the data directory.
pub const SELF_SIGNED_CERT_FILE: &str = "saad-gateway-cert.pem";
/// File name of the generated private key in the data directory.
pub const SELF_SIGNED_KEY_FILE: &str = "saad-gateway-key.pem";
/// Names the generated certificate is valid for.
pub const SELF_SIGNED_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];
/// The protocol versions the gateway offers: TLS 1.3 and 1.2, nothing else.
pub static PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Operator-provided PEM files (`--tls-cert`, `--tls-key`).
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// Generated on first start in `data_dir`, reused afterwards.
    SelfSigned {
        /// The gateway's data directory.
        data_dir: PathBuf,
    },
}

/// What went wrong setting up TLS; every variant names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Only one of `--tls-cert` and `--tls-key` was given.
    #[error("--tls-cert and --tls-key must be given together")]
    Incomplete,
    /// A PEM file could not be read or holds no usable item.
    #[error("reading {what} from {}: {message}", .path.display())]
    Pem {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// Writing a generated file failed.
    #[error("writing {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// One generated file exists without the other.
    #[error("{} exists but {} does not: remove it to regenerate both, or restore the missing file", .present.display(), .missing.display())]
    HalfPair {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// rcgen could not generate the certificate.
    #[error("generating the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate/key pair.
    #[error("TLS configuration with {} and {}: {source}", .cert.display(), .key.display())]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

/// Installs `ring` as the process-wide rustls crypto provider. Idempotent:
/// later calls (and a provider already installed by someone else) are fine.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: one provider is set.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The paths of the certificate and key files, generating a self-signed
/// pair first when `source` asks for it and none exists yet.
pub fn resolve_files(source: &TlsSource) -> Result<(PathBuf, PathBuf), TlsError> {
    match source {
        TlsSource::Files { cert, key } => Ok((cert.clone(), key.clone())),
        TlsSource::SelfSigned { data_dir } => {
            let paths = ensure_self_signed(data_dir)?;
            Ok((paths.cert, paths.key))
        }
    }
}

/// The generated pair's files and whether this call created them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSignedFiles {
    /// `DATA_DIR/saad-gateway-cert.pem`.
    pub cert: PathBuf,
    /// `DATA_DIR/saad-gateway-key.pem` (mode 0600 on Unix).
    pub key: PathBuf,
    /// `true` on first start, `false` when existing files were reused.
    pub created: bool,
}

/// Generates the self-signed pair in `data_dir` unless both files exist.
pub fn ensure_self_signed(data_dir: &Path) -> Result<SelfSignedFiles, TlsError> {
    let cert = data_dir.join(SELF_SIGNED_CERT_FILE);
    let key = data_dir.join(SELF_SIGNED_KEY_FILE);
    match (cert.exists(), key.exists()) {
        (true, true) => {
            return Ok(SelfSignedFiles {
                cert,
                key,
                created: false,
            });
        }
        (true, false) => {
            return Err(TlsError::HalfPair {
                present: cert,
                missing: key,
            });
        }
        (false, true) => {
            return Err(TlsError::HalfPair {
                present: key,
                missing: cert,
            });
        }
        (false, false) => {}
    }
    fs::create_dir_all(data_dir).map_err(|source| TlsError::Write {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| (*s).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "saad-gateway (self-signed)");
    let key_pair = rcgen::KeyPair::generate()?;
    let certificate = params.self_signed(&key_pair)?;
    // Key first: a crash in between leaves a half pair, reported by name.
    write_new_file(&key, key_pair.serialize_pem().as_bytes(), true)?;
    write_new_file(&cert, certificate.pem().as_bytes(), false)?;
    tracing::info!(tls.cert = %cert.display(), "generated a self-signed TLS certificate");
    Ok(SelfSignedFiles {
        cert,
        key,
        created: true,
    })
}

/// Writes `bytes` to a temporary sibling then renames it into place, so a
/// reader never sees half a file. `private` restricts it to the owner.
fn write_new_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), TlsError> {
    let temporary = path.with_extension("pem.tmp");
    let write = || -> io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if private { 0o600 } else { 0o644 });
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut file = options.open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    };
    write().map_err(|source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the certificate chain of a PEM file.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |message: String| TlsError::Pem {
        what: "certificate",
        path: path.to_path_buf(),
        message,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certificates.is_empty() {
        return Err(pem_error("no CERTIFICATE block".to_owned()));
    }
    Ok(certificates)
}

/// Reads the private key of a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem {
        what: "private key",
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The rustls server configuration for `source`: TLS 1.2/1.3, no client
/// authentication, the `ring` provider.
pub fn server_config(source: &TlsSource) -> Result<rustls::ServerConfig, TlsError> {
    install_crypto_provider();
    let (cert_path, key_path) = resolve_files(source)?;
    let certificates = load_certificates(&cert_path)?;
    let key = load_private_key(&key_path)?;
    let config_error = |source: rustls::Error| TlsError::Config {
        cert: cert_path.clone(),
        key: key_path.clone(),
        source,
    };
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(config_error)?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(config_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_certificate_file_is_named_in_the_error() {
        let source = TlsSource::Files {
            cert: PathBuf::from("/nonexistent/cert.pem"),
            key: PathBuf::from("/nonexistent/key.pem"),
        };
        let error = server_config(&source).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("/nonexistent/cert.pem")),
            "{error:?}"
        );
    }

    #[test]
    fn the_generated_key_is_readable_by_its_owner_only() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let files = ensure_self_signed(dir.path())?;
        assert!(files.created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&files.key)?.permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(
            server_config(&TlsSource::SelfSigned {
                data_dir: dir.path().to_path_buf()
            })
            .is_ok()
        );
        Ok(())
    }

    #[test]
    fn a_half_pair_is_refused_naming_the_missing_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join(SELF_SIGNED_CERT_FILE), "x")?;
        let error = ensure_self_signed(dir.path()).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains(SELF_SIGNED_KEY_FILE)),
            "{error:?}"
        );
        Ok(())
    }
}
