//! A certificate authority for tests, and a certificate for `localhost` it signs.

use std::{path::PathBuf, sync::LazyLock};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A test certificate authority: its certificate (DER, for clients to trust) and the
/// PEM files of a certificate for `localhost` and 127.0.0.1 it signed, with its key.
#[derive(Debug)]
pub struct TestCa {
    /// The authority's certificate, DER.
    pub der: Vec<u8>,
    /// The server's certificate and key files, PEM.
    pub files: (PathBuf, PathBuf),
}

/// One per test process, in a directory of its own under the temporary directory.
pub(crate) static TEST_CA: LazyLock<TestCa> = LazyLock::new(TestCa::new);

impl TestCa {
    /// A new authority and a certificate it signs, written under the temporary
    /// directory.
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().expect("a CA key");
        let der = params.self_signed(&ca_key).expect("the CA").der().to_vec();
        let issuer = Issuer::new(params, ca_key);
        let key = KeyPair::generate().expect("a key");
        let cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("a certificate");
        let dir = std::env::temp_dir().join(format!(
            "sse-testkit-ca-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the certificate");
        let files = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&files.0, cert.pem()).expect("write the certificate");
        std::fs::write(&files.1, key.serialize_pem()).expect("write the key");
        TestCa { der, files }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
