//! A fake AWS: SDK configuration with credentials no real AWS accepts, and moto, a local AWS API.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::config::{Credentials, Region};

/// SDK configuration with test credentials in us-east-1 that sends every client to `endpoint`
/// (moto, or a server that never answers); with `None`, to the SDK's own endpoints, for clients
/// that are given a local one of their own.
pub async fn fake_aws_config(endpoint: Option<&str>) -> SdkConfig {
    let credentials = Credentials::new("AKIDTEST", "secret", None, None, "helix-tests");
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials);
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// A moto server (a local AWS API) on a free loopback port, stopped when dropped. It comes from
/// the project's tool venv (`scripts/tools`, which `make test` runs).
pub struct MotoServer {
    child: std::process::Child,
    pub endpoint: String,
}

impl MotoServer {
    pub async fn start() -> Self {
        let binary =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
        assert!(
            binary.exists(),
            "{} is missing: run scripts/tools (make test does)",
            binary.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("moto_server did not listen on port {port} within 15 s");
    }

    /// SDK configuration pointing every client at this server.
    pub async fn sdk_config(&self) -> SdkConfig {
        fake_aws_config(Some(&self.endpoint)).await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
