//! Brokers for tests.
//!
//! - [`MockKafka`]: librdkafka's in-process mock cluster. Nothing to install,
//!   no ports to manage; the default for fast tests and the demo.
//! - [`Tansu`]: a real Kafka-protocol broker in a child process, on a free
//!   loopback port, with in-memory storage, killed on drop.
//! - [`Moto`]: moto's server standing in for AWS APIs, on a free port.
//! - [`Kafkajs`]: kafkajs, a foreign (non-librdkafka) Kafka client, run by
//!   Node as a child process to produce arbitrary bytes.
//! - [`Postgres`]: a real PostgreSQL server (a fresh `initdb` cluster in a
//!   temporary directory) on a free loopback port, stopped and deleted on
//!   drop; run as an unprivileged user when the tests run as root.
//! - [`sequenced`]: events that say which one they are, and sending them.
//! - [`decode_message`] and [`future_record`]: typed events through
//!   rdkafka's own clients.
//! - [`TestBroker`]: either of them behind one interface, so a test can run
//!   on both.
//!
//! A test that needs Tansu fails — it does not skip — when the binary is
//! missing: set `SLUICE_TANSU` to its path, or run `make tansu`, which
//! installs it where [`Tansu::binary`] looks. So does one that needs kafkajs
//! when Node or the script's packages are missing: run `make kafkajs`. And
//! one that needs PostgreSQL when its binaries are missing: install the
//! Debian package `postgresql` (`make deps` does) or set `SLUICE_PG_BIN`.

mod admin;
mod consume;
mod kafkajs;
mod mock;
mod moto;
mod postgres;
mod process;
mod read;
pub mod sequenced;
mod tansu;
mod typed;

use std::time::Duration;

pub use admin::{create_topic, wait_for_topic};
pub use consume::run_until_caught_up;
pub use kafkajs::{ForeignRecord, Kafkajs, header as foreign_header};
pub use mock::MockKafka;
pub use moto::{MOTO_REGION, Moto, sdk_config_for};
pub use postgres::{POSTGRES_USER, Postgres};
pub use read::{header_count, header_text, http_get, read_topic, reader_from_start};
pub use tansu::{TANSU_VERSION, Tansu, free_port};
pub use typed::{MessageError, decode_message, future_record};

/// Why a test broker could not be started or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestkitError {
    #[error(
        "the Tansu binary was not found (looked at {looked_at}); run `make tansu` or set SLUICE_TANSU"
    )]
    TansuMissing { looked_at: String },
    #[error(
        "moto_server was not found (looked at {looked_at}); run `make venv` and set SLUICE_PYTHON, or set SLUICE_MOTO"
    )]
    MotoMissing { looked_at: String },
    #[error(
        "PostgreSQL was not found (looked at {looked_at} for initdb, postgres and pg_isready); install the Debian package postgresql (`make deps`) or set SLUICE_PG_BIN"
    )]
    PostgresMissing { looked_at: String },
    #[error(
        "running as root, PostgreSQL needs an unprivileged user to run as, and {user:?} is not one in /etc/passwd; install the Debian package postgresql (it creates the user) or set SLUICE_PG_USER"
    )]
    PostgresUser { user: String },
    #[error("node was not found (looked at {looked_at}); install Node.js 20 or set SLUICE_NODE")]
    NodeMissing { looked_at: String },
    #[error(
        "kafkajs is not installed ({missing} is missing); run `make kafkajs` (or `npm ci --prefix crates/sluice-testkit/kafkajs`)"
    )]
    KafkajsMissing { missing: String },
    #[error("the foreign client {script} failed: {detail}")]
    ForeignClient { script: String, detail: String },
    #[error("cannot start {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} did not become ready within {timeout:?}: {detail}")]
    NotReady {
        what: String,
        timeout: Duration,
        detail: String,
    },
    #[error("Kafka error: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("reading {topic}: {detail}")]
    Read { topic: String, detail: String },
    #[error("the consumer failed: {0}")]
    Consumer(String),
    #[error("creating topic {topic} failed: {detail}")]
    CreateTopic { topic: String, detail: String },
}

pub type Result<T, E = TestkitError> = std::result::Result<T, E>;

/// Which kind of broker a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    Mock,
    Tansu,
}

/// A running test broker of either kind.
#[derive(Debug)]
pub enum TestBroker {
    Mock(MockKafka),
    Tansu(Tansu),
}

impl TestBroker {
    pub async fn start(kind: BrokerKind) -> Result<Self> {
        Ok(match kind {
            BrokerKind::Mock => TestBroker::Mock(MockKafka::start(1)?),
            BrokerKind::Tansu => TestBroker::Tansu(Tansu::start().await?),
        })
    }

    pub fn kind(&self) -> BrokerKind {
        match self {
            TestBroker::Mock(_) => BrokerKind::Mock,
            TestBroker::Tansu(_) => BrokerKind::Tansu,
        }
    }

    pub fn bootstrap_servers(&self) -> String {
        match self {
            TestBroker::Mock(m) => m.bootstrap_servers(),
            TestBroker::Tansu(t) => t.bootstrap_servers(),
        }
    }

    /// Creates a topic and waits until its partitions have leaders: through
    /// the admin API on Tansu, directly on the mock cluster, whose admin API
    /// does not create topics.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        match self {
            TestBroker::Mock(mock) => {
                mock.create_topic(name, partitions)?;
                let timeout = Duration::from_secs(15);
                wait_for_topic(&mock.bootstrap_servers(), name, partitions, timeout).await
            }
            TestBroker::Tansu(tansu) => {
                create_topic(&tansu.bootstrap_servers(), name, partitions).await
            }
        }
    }
}
