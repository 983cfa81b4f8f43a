//! TLS on the API's TCP listener (`/management/tls`): rustls with the ring provider, the server certificate and
//! key from PEM files, and with `client-ca-file` mutual TLS (a client without a certificate that chains to one
//! of those CAs is refused during the handshake).
//!
//! Renewed certificates are served without a restart: a poll task compares the files' fingerprints (device,
//! inode, size, modification time, so a rename-over or a changed symlink counts) every [`POLL`] and loads them
//! again when one changed. New connections get the new configuration; a renewal that does not load (a key that
//! does not match, a half-written file) is logged and the files in force keep being served, and it is tried
//! again at the next change.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kres_datamodel::config::ManagementTlsSchema;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the files are looked at.
pub(super) const POLL: Duration = Duration::from_secs(1);

/// How long a client has to complete the handshake.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Device, inode, size and modification time of each file (`None`: missing).
type Fingerprint = Vec<Option<(u64, u64, u64, i64, i64)>>;

/// The certificate, key and client CA files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    pub fn from_config(tls: &ManagementTlsSchema) -> Self {
        TlsFiles {
            cert: tls.cert_file.path().to_path_buf(),
            key: tls.key_file.path().to_path_buf(),
            client_ca: tls.client_ca_file.as_ref().map(|f| f.path().to_path_buf()),
        }
    }

    fn all(&self) -> impl Iterator<Item = &Path> {
        [self.cert.as_path(), self.key.as_path()].into_iter().chain(self.client_ca.as_deref())
    }

    /// What changes when a file is replaced or rewritten (a missing file counts as a state too).
    fn fingerprint(&self) -> Fingerprint {
        self.all()
            .map(|p| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec())))
            .collect()
    }

    /// Reads the files into a server configuration.
    pub fn load(&self) -> Result<Arc<ServerConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = read_certs(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| format!("cannot read a private key from '{}': {e}", self.key.display()))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certs(ca)? {
                    roots.add(cert).map_err(|e| format!("'{}': not a usable CA certificate: {e}", ca.display()))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| format!("'{}': {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            format!(
                "the certificate '{}' and the key '{}' do not go together: {e}",
                self.cert.display(),
                self.key.display()
            )
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from '{}': {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("'{}' holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// The TLS configuration in force, replaced when the files change.
pub(super) struct Reloading {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl Reloading {
    /// Loads the files (an error stops the API from starting) and starts watching them until `stop`.
    pub fn start(files: TlsFiles, stop: CancellationToken) -> Result<Arc<Reloading>, String> {
        let fingerprint = files.fingerprint();
        let config = files.load()?;
        let this = Arc::new(Reloading { files, current: RwLock::new(config) });
        tokio::spawn(this.clone().watch(fingerprint, stop));
        Ok(this)
    }

    /// An acceptor on the configuration in force.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    async fn watch(self: Arc<Self>, mut seen: Fingerprint, stop: CancellationToken) {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            let now = self.files.fingerprint();
            if now == seen {
                continue;
            }
            seen = now;
            match self.files.load() {
                Ok(config) => {
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
                    tracing::info!(
                        "management API: TLS certificate '{}' loaded again (changed on disk)",
                        self.files.cert.display()
                    );
                }
                Err(e) => tracing::error!(
                    "management API: the changed TLS files were not loaded, the old ones stay in use: {e}"
                ),
            }
        }
    }
}
