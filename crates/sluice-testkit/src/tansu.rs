use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::process::ChildService;
use crate::{Result, TestkitError};

/// The Tansu version the tests are written against.
pub const TANSU_VERSION: &str = "0.6.0";

/// A Tansu broker in a child process, listening on a free loopback port with
/// in-memory storage. Killed on drop.
#[derive(Debug)]
pub struct Tansu {
    service: ChildService,
    port: u16,
}

impl Tansu {
    /// Where the binary is looked for: `SLUICE_TANSU`, then the cache that
    /// `make tansu` installs into, then `PATH`.
    pub fn binary() -> Result<PathBuf> {
        let mut looked_at = Vec::new();
        if let Some(path) = std::env::var_os("SLUICE_TANSU") {
            let path = PathBuf::from(path);
            if path.is_file() {
                return Ok(path);
            }
            looked_at.push(path.display().to_string());
        }
        let cache = std::env::var_os("SLUICE_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/sluice")));
        if let Some(cache) = cache {
            let path = cache.join(format!("tansu-{TANSU_VERSION}/bin/tansu"));
            if path.is_file() {
                return Ok(path);
            }
            looked_at.push(path.display().to_string());
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                let path = dir.join("tansu");
                if path.is_file() {
                    return Ok(path);
                }
            }
            looked_at.push("PATH".to_owned());
        }
        Err(TestkitError::TansuMissing {
            looked_at: looked_at.join(", "),
        })
    }

    /// Starts a broker on a free port and waits until it answers metadata
    /// requests.
    pub async fn start() -> Result<Self> {
        let port = free_port().map_err(|source| TestkitError::Spawn {
            what: "a free port".into(),
            source,
        })?;
        Self::start_on(port).await
    }

    /// Starts a broker on `port`: for tests where clients exist before the
    /// broker does (see [`free_port`]).
    pub async fn start_on(port: u16) -> Result<Self> {
        let binary = Self::binary()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(&binary);
        command
            .arg("broker")
            .args(["--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env("RUST_LOG", "warn");
        let service = ChildService::spawn(command)?;
        let mut tansu = Self { service, port };
        tansu.wait_ready(Duration::from_secs(30)).await?;
        Ok(tansu)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the broker printed so far, for failure messages.
    pub fn log(&self) -> String {
        self.service.log()
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let not_ready = |this: &Self, detail: String| TestkitError::NotReady {
            what: format!("tansu on port {}", this.port),
            timeout,
            detail: format!("{detail}\n--- tansu output ---\n{}", this.log()),
        };
        let addr = (Ipv4Addr::LOCALHOST, self.port);
        loop {
            if let Some(status) = self.service.exited() {
                return Err(not_ready(self, format!("exited with {status}")));
            }
            if TcpStream::connect(addr).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(not_ready(self, "port never accepted a connection".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap_servers())
            .create()?;
        let mut last = String::new();
        while Instant::now() < deadline {
            match consumer.fetch_metadata(None, Duration::from_secs(2)) {
                Ok(metadata) if !metadata.brokers().is_empty() => return Ok(()),
                Ok(_) => last = "metadata lists no brokers".into(),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(not_ready(self, last))
    }
}

/// A loopback port nothing listens on at the time of the call.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
