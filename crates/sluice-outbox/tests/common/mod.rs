//! A real PostgreSQL and librdkafka's mock cluster for each test, relays
//! in-process or as child processes, and reading back what reached Kafka.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::Message as _;
use rdkafka::message::OwnedMessage;
use sluice_events::proto::EmailReceived;
use sluice_outbox::{OutboxConfig, Relay, RelayConfig};
use sluice_testkit::{MockKafka, Postgres};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub const TOPIC: &str = "email.received";
pub const SOURCE: &str = "/tests/outbox";

pub struct Env {
    pub pg: Postgres,
    pub kafka: MockKafka,
    pub pool: PgPool,
    pub outbox: OutboxConfig,
}

impl Env {
    pub async fn start(partitions: i32) -> anyhow::Result<Self> {
        Self::start_with_brokers(partitions, 1).await
    }

    pub async fn start_with_brokers(partitions: i32, brokers: i32) -> anyhow::Result<Self> {
        let pg = Postgres::start().await?;
        let kafka = MockKafka::start(brokers)?;
        kafka.create_topic(TOPIC, partitions)?;
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect(&pg.url())
            .await?;
        let outbox = OutboxConfig {
            schema: "app".into(),
            table: "events_outbox".into(),
            ..OutboxConfig::default()
        };
        sluice_outbox::migrate(&pool, &outbox.names()?).await?;
        Ok(Self {
            pg,
            kafka,
            pool,
            outbox,
        })
    }

    /// The relay's configuration file; `relay` and `producer` are extra
    /// lines of those sections.
    pub fn relay_toml(&self, relay: &str, producer: &str) -> String {
        self.relay_toml_with(relay, producer, "")
    }

    /// [`relay_toml`](Self::relay_toml) with librdkafka properties, as
    /// `"name" = "value"` pairs.
    pub fn relay_toml_with(&self, relay: &str, producer: &str, properties: &str) -> String {
        format!(
            r#"
database_url = "{url}"
[outbox]
schema = "{schema}"
table = "{table}"
[producer]
source = "/relay"
linger_ms = 2
{timeout}
{producer}
kafka = {{ bootstrap_servers = "{bootstrap}", properties = {{ {properties} }} }}
[relay]
poll_interval_ms = 200
rebalance_interval_ms = 300
stats_interval_ms = 500
{relay}
[http]
listen = "127.0.0.1:0"
"#,
            url = self.pg.url(),
            timeout = if producer.contains("delivery_timeout_ms") {
                ""
            } else {
                "delivery_timeout_ms = 10000"
            },
            schema = self.outbox.schema,
            table = self.outbox.table,
            bootstrap = self.kafka.bootstrap_servers(),
        )
    }

    /// A relay in this process, checking rows against the reference
    /// registry; stopped when the returned sender is dropped or sent to.
    pub async fn spawn_relay(&self, relay: &str, producer: &str) -> anyhow::Result<RunningRelay> {
        self.spawn_relay_with(relay, producer, "").await
    }

    pub async fn spawn_relay_with(
        &self,
        relay: &str,
        producer: &str,
        properties: &str,
    ) -> anyhow::Result<RunningRelay> {
        let config = RelayConfig::from_toml(&self.relay_toml_with(relay, producer, properties))?;
        let relay = Relay::connect(config, Some(sluice_events::registry().clone())).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(relay.run(async {
            let _ = stopped.await;
        }));
        Ok(RunningRelay { stop, task })
    }

    pub async fn count(&self, status: &str) -> anyhow::Result<i64> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE status = $1",
            self.outbox.names()?.outbox_table()
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(status)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Waits until no row is pending.
    pub async fn drained(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = self.count("pending").await?;
            if pending == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{pending} rows still pending after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub struct RunningRelay {
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<sluice_outbox::Result<()>>,
}

impl RunningRelay {
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

/// Every record of `topic` from the beginning: reads until `at_least`
/// records arrived and then two seconds pass without another.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    at_least: usize,
) -> anyhow::Result<Vec<OwnedMessage>> {
    let consumer = sluice_testkit::reader_from_start(bootstrap, topic)?;
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = Instant::now();
    loop {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            records.push(message?.detach());
            last = Instant::now();
            continue;
        }
        if records.len() >= at_least && last.elapsed() > Duration::from_secs(2) {
            return Ok(records);
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of at least {at_least} records of {topic}",
                records.len()
            );
        }
    }
}

/// The sequence of a record written from `sluice_testkit::sequenced::event`.
pub fn sequence(record: &OwnedMessage) -> anyhow::Result<u64> {
    let decoder = sluice_core::Decoder::new(sluice_events::registry());
    let event: EmailReceived = decoder.decode(record.payload().context("no payload")?)?;
    Ok(sluice_testkit::sequenced::sequence(&event))
}

pub fn key(record: &OwnedMessage) -> String {
    String::from_utf8_lossy(record.key().unwrap_or_default()).into_owned()
}

/// What arrived, summarized: per key, the sequences in the order of their
/// first arrival; and how many records were repeats.
#[derive(Debug, Default)]
pub struct Arrivals {
    pub first_order: HashMap<String, Vec<u64>>,
    pub distinct: usize,
    pub duplicates: usize,
}

pub fn arrivals(records: &[OwnedMessage]) -> anyhow::Result<Arrivals> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Arrivals::default();
    for record in records {
        let seq = sequence(record)?;
        if seen.insert(seq) {
            out.first_order.entry(key(record)).or_default().push(seq);
            out.distinct += 1;
        } else {
            out.duplicates += 1;
        }
    }
    Ok(out)
}

/// Fails unless every key's first arrivals are in increasing sequence.
pub fn check_order(arrivals: &Arrivals) -> anyhow::Result<()> {
    for (key, seqs) in &arrivals.first_order {
        if let Some(w) = seqs.windows(2).find(|w| w[0] >= w[1]) {
            bail!("{key}: {} arrived before {} ({seqs:?})", w[0], w[1]);
        }
    }
    Ok(())
}

/// `sluice-outbox-relay` as a child process, its output in a log file.
/// SIGKILLed on drop.
pub struct RelayProcess {
    child: std::process::Child,
    pub http_port: u16,
    pub log: std::path::PathBuf,
}

impl Env {
    /// Writes a configuration into `dir` and starts the relay binary on it,
    /// checking rows against the repository's registry.
    pub fn start_relay_process(
        &self,
        dir: &std::path::Path,
        name: &str,
        relay: &str,
    ) -> anyhow::Result<RelayProcess> {
        let http_port = sluice_testkit::free_port()?;
        let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/../../registry/manifest.toml");
        let toml = self
            .relay_toml(relay, "")
            .replace("127.0.0.1:0", &format!("127.0.0.1:{http_port}"))
            .replacen(
                "[outbox]",
                &format!("registry = \"{registry}\"\n[outbox]"),
                1,
            );
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, toml)?;
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice-outbox-relay"))
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        Ok(RelayProcess {
            child,
            http_port,
            log,
        })
    }
}

impl RelayProcess {
    /// SIGKILL: no chance to finish its round or mark anything.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                anyhow::ensure!(
                    status.success(),
                    "the relay exited with {status}\n{}",
                    self.log_text()
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("the relay did not stop on SIGTERM\n{}", self.log_text())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Fails if the process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the relay exited with {status}\n{}", self.log_text());
        }
        Ok(())
    }

    /// Waits until `/ready` answers 200.
    pub async fn ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_running()?;
            if let Ok((200, _)) = sluice_testkit::http_get(self.http_port, "/ready") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the relay was not ready within {timeout:?}\n{}",
                    self.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of an unlabelled metric on `/metrics`.
    pub fn metric(&self, name: &str) -> anyhow::Result<Option<f64>> {
        let (code, body) = sluice_testkit::http_get(self.http_port, "/metrics")?;
        anyhow::ensure!(code == 200, "/metrics answered {code}");
        Ok(body
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()))
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `events` sequenced events with `writers` concurrent writers, in
/// transactions of `per_tx`, over `aggregates` aggregates. Writer `w` owns
/// the aggregates `a` with `a % writers == w`, so each aggregate's events
/// are written, in sequence order, by one writer.
pub async fn write_events(
    pool: PgPool,
    outbox: OutboxConfig,
    events: u64,
    aggregates: u64,
    writers: u64,
    per_tx: u64,
) -> anyhow::Result<()> {
    let outbox = sluice_outbox::Outbox::new(&outbox, SOURCE)?;
    let per_writer = events / writers;
    let owned = aggregates / writers;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (pool, outbox) = (pool.clone(), outbox.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while i < per_writer {
                let batch: Vec<_> = (i..(i + per_tx).min(per_writer))
                    .map(|j| {
                        let key = format!("agg-{}", (j % owned) * writers + w);
                        sluice_testkit::sequenced::event(w * per_writer + j, &key)
                    })
                    .collect();
                let mut tx = pool.begin().await?;
                outbox.enqueue_all(&mut tx, &batch).await?;
                tx.commit().await?;
                i += per_tx;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Adds one to the `counters` row `name`: the handlers' database write.
pub async fn bump_counter(
    db: &mut sqlx::PgConnection,
    name: &str,
) -> Result<(), sluice_consumer::HandlerError> {
    sqlx::query(
        "INSERT INTO counters (name, n) VALUES ($1, 1) ON CONFLICT (name) DO UPDATE SET n = counters.n + 1",
    )
    .bind(name)
    .execute(&mut *db)
    .await
    .map_err(sluice_consumer::HandlerError::retriable)?;
    Ok(())
}
