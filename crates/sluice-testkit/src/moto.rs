//! moto's server: a local stand-in for AWS APIs (EventBridge, SQS, ...), on a
//! free loopback port, killed on drop.

use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use tokio::time::Instant;

use crate::process::ChildService;
use crate::{Result, TestkitError, free_port};

/// The region every client of a [`Moto`] uses.
pub const MOTO_REGION: &str = "us-east-1";

#[derive(Debug)]
pub struct Moto {
    service: ChildService,
    port: u16,
}

impl Moto {
    /// Where `moto_server` is looked for: `SLUICE_MOTO`, then next to
    /// `SLUICE_PYTHON` (the venv `make venv` creates).
    pub fn binary() -> Result<PathBuf> {
        let mut looked_at = Vec::new();
        if let Some(path) = std::env::var_os("SLUICE_MOTO") {
            return Ok(PathBuf::from(path));
        }
        if let Some(python) = std::env::var_os("SLUICE_PYTHON") {
            let candidate = PathBuf::from(python).with_file_name("moto_server");
            if candidate.is_file() {
                return Ok(candidate);
            }
            looked_at.push(candidate.display().to_string());
        } else {
            looked_at.push("SLUICE_PYTHON (not set)".into());
        }
        Err(TestkitError::MotoMissing {
            looked_at: looked_at.join(", "),
        })
    }

    /// Starts moto's server on a free port and waits until it answers.
    pub async fn start() -> Result<Self> {
        let binary = Self::binary()?;
        let port = free_port().map_err(|source| TestkitError::Spawn {
            what: "a free port".into(),
            source,
        })?;
        let mut command = Command::new(&binary);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let service = ChildService::spawn(command)?;
        let mut moto = Self { service, port };
        moto.wait_ready(Duration::from_secs(60)).await?;
        Ok(moto)
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// SDK settings for this server: static test credentials, its region
    /// and its endpoint.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint_url())
    }

    /// What the server printed so far, for failure messages.
    pub fn log(&self) -> String {
        self.service.log()
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.service.exited() {
                return Err(self.not_ready(timeout, format!("exited with {status}")));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.not_ready(timeout, "port never accepted a connection".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn not_ready(&self, timeout: Duration, detail: String) -> TestkitError {
        TestkitError::NotReady {
            what: format!("moto on port {}", self.port),
            timeout,
            detail: format!("{detail}\n--- moto output ---\n{}", self.log()),
        }
    }
}

/// SDK settings with static test credentials for an endpoint.
pub fn sdk_config_for(endpoint_url: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(MOTO_REGION))
        .endpoint_url(endpoint_url)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::from_keys(
                "testing", "testing", None,
            )),
        )
        .build()
}
