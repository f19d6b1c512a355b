//! The kill test: a consumer process is SIGKILLed at random moments while it
//! works through 100 000 sequenced events, and restarted each time. 1 % of
//! the events fail for good and 2 % fail once, so kills land among retries
//! and DLQ writes too. Afterwards every event was handled at least once or
//! is in the DLQ, no poison event was handled, and the duplicates are
//! bounded by what the runtime lets run ahead of its commits.
//!
//! The consumer is this test binary run again as a child process, with
//! `consumer_process` as its only test. It runs against the parent's mock
//! cluster (Tansu 0.6.0 skips the rest of a record batch when a consumer
//! resumes inside it; see docs/brokers.md).

mod common;

use std::collections::HashSet;
use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use sluice_consumer::{ConsumerBuilder, Context, Handler, HandlerError, Handlers};
use sluice_events::proto::EmailReceived;
use sluice_events::registry;
use sluice_testkit::{BrokerKind, TestBroker};

const CHILD: &str = "SLUICE_KILL_TEST_CHILD";
const PARTITIONS: i32 = 6;
/// `max_uncommitted_per_partition` of the child consumer.
const WINDOW: usize = 500;
const KILLS: usize = 5;

/// Events that always fail, and so go to the DLQ.
fn poison(sequence: u64) -> bool {
    sequence % 100 == 7
}

/// Events whose first attempt fails (retried in place).
fn flaky(sequence: u64) -> bool {
    sequence % 50 == 3
}

/// Appends each handled event's sequence number to the log file; a line
/// written before SIGKILL survives it (it is in the kernel's page cache).
struct Append(Mutex<std::fs::File>);

impl Handler<EmailReceived> for Append {
    async fn handle(&self, event: EmailReceived, ctx: &Context) -> Result<(), HandlerError> {
        let sequence = common::sequence(&event);
        if poison(sequence) {
            return Err(HandlerError::permanent(format!("poison {sequence}")));
        }
        if flaky(sequence) && ctx.attempt() == 1 {
            return Err(HandlerError::retriable(format!("flaky {sequence}")));
        }
        let line = format!("{sequence}\n");
        let mut file = self.0.lock().unwrap();
        file.write_all(line.as_bytes())
            .map_err(HandlerError::retriable)
    }
}

#[test]
#[ignore = "the consumer process that the kill test starts and kills"]
fn consumer_process() -> anyhow::Result<()> {
    let spec = std::env::var(CHILD).context("run by the kill test only")?;
    let (bootstrap, log) = spec.split_once('|').context("bootstrap|log")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut config = common::config(bootstrap, "killable", "sequenced");
        config.max_uncommitted_per_partition = WINDOW;
        // The default: kills then land among handled but uncommitted records.
        config.commit_interval_ms = 1_000;
        for (key, value) in [
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ] {
            config.kafka.properties.insert(key.into(), value.into());
        }
        let handlers =
            Handlers::new(registry().clone()).on::<EmailReceived, _>(Append(Mutex::new(file)));
        let consumer = ConsumerBuilder::new(config).build(handlers)?;
        consumer.run(std::future::pending()).await?;
        anyhow::Ok(())
    })
}

fn spawn_child(bootstrap: &str, log: &Path, stderr: &Path) -> anyhow::Result<Child> {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr)?;
    Ok(Command::new(std::env::current_exe()?)
        .args(["consumer_process", "--exact", "--ignored", "--nocapture"])
        .env(CHILD, format!("{bootstrap}|{}", log.display()))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()?)
}

fn handled(log: &Path) -> anyhow::Result<Vec<u64>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // A line cut short by a kill has no newline yet: not counted.
    let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
    complete
        .lines()
        .map(|line| {
            line.parse()
                .with_context(|| format!("bad log line {line:?}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_killed_five_times_loses_nothing() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Mock).await?;
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("sequenced", PARTITIONS).await?;
    broker.create_topic("sequenced.dlq", 1).await?;
    let total = 100_000u64;
    let healthy = (0..total).filter(|s| !poison(*s)).count();
    common::produce(&bootstrap, "sequenced", 0..total).await?;

    let dir = tempfile::tempdir()?;
    let log = dir.path().join("handled.log");
    let stderr = dir.path().join("children.stderr");
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while kills < KILLS {
        ensure!(Instant::now() < deadline, "the kills took too long");
        let before = handled(&log)?.len();
        let mut child = spawn_child(&bootstrap, &log, &stderr)?;
        // Kill it at a random moment once it is working.
        let started = Instant::now();
        while handled(&log)?.len() == before && started.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..1_500))).await;
        child.kill()?;
        child.wait()?;
        kills += 1;
        let unique = handled(&log)?.into_iter().collect::<HashSet<_>>().len();
        eprintln!("kill {kills}: {unique} of {healthy} handled");
        if unique == healthy {
            break;
        }
    }
    ensure!(
        kills == KILLS,
        "finished after {kills} kills: too fast to test"
    );

    let mut last = spawn_child(&bootstrap, &log, &stderr)?;
    let finished = loop {
        let lines = handled(&log)?;
        let unique: HashSet<u64> = lines.iter().copied().collect();
        if unique.len() == healthy || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    last.kill()?;
    last.wait()?;

    let unique: HashSet<u64> = finished.iter().copied().collect();
    let lost: Vec<u64> = (0..total)
        .filter(|s| !poison(*s) && !unique.contains(s))
        .take(10)
        .collect();
    ensure!(
        lost.is_empty(),
        "events never handled, such as {lost:?}; children's stderr:\n{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    ensure!(finished.iter().all(|&s| s < total && !poison(s)));
    // Every poison event is in the DLQ (some more than once: a kill after
    // the DLQ write and before the commit writes it again).
    let dead_letters = {
        let counter: rdkafka::consumer::BaseConsumer = sluice_kafka::KafkaConfig::new(&bootstrap)
            .client_config()
            .create()?;
        let (low, high) = rdkafka::consumer::Consumer::fetch_watermarks(
            &counter,
            "sequenced.dlq",
            0,
            Duration::from_secs(10),
        )?;
        usize::try_from(high - low)?
    };
    let bootstrap_dlq = bootstrap.clone();
    let dead = tokio::task::spawn_blocking(move || {
        common::read_topic(&bootstrap_dlq, "sequenced.dlq", dead_letters)
    })
    .await??;
    let in_dlq: HashSet<u64> = dead
        .iter()
        .map(|r| {
            let value = rdkafka::Message::payload(r).context("a dead letter without a value")?;
            let event: EmailReceived = sluice_core::Decoder::new(registry()).decode(value)?;
            Ok(common::sequence(&event))
        })
        .collect::<anyhow::Result<_>>()?;
    let poisoned: HashSet<u64> = (0..total).filter(|s| poison(*s)).collect();
    ensure!(
        in_dlq == poisoned,
        "{} poison events in the DLQ of {}; {} others",
        in_dlq.intersection(&poisoned).count(),
        poisoned.len(),
        in_dlq.difference(&poisoned).count()
    );
    let duplicates = finished.len() - unique.len() + (dead.len() - in_dlq.len());
    // Per kill, at most WINDOW records per partition were read and not
    // committed, plus those of a commit sent but not yet acknowledged.
    let bound = KILLS * PARTITIONS as usize * 2 * WINDOW;
    eprintln!("{duplicates} duplicates after {KILLS} kills (bound {bound})");
    ensure!(
        duplicates <= bound,
        "{duplicates} duplicates exceed {bound}"
    );
    Ok(())
}
