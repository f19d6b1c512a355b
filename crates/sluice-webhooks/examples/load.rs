//! The webhook service's benchmark: signed requests into the ingress as
//! fast as `--connections` senders go (each waits for its 202, so the
//! broker's ack is in every latency), then a fixed rate through ingress,
//! Kafka and egress to a local receiver, timed from the sender's POST to
//! the receiver's arrival; last, the egress alone, delivering the first
//! run's records from the beginning of their topic.
//!
//! ```sh
//! cargo run --release -p sluice-webhooks --example load -- --requests 100000 --connections 32
//! ```
//!
//! On librdkafka's mock cluster by default, in this process, with the
//! senders and the receiver: on a small machine they share its cores.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use sluice_telemetry::http::Readiness as _;
use sluice_webhooks::config::EgressConfig;
use sluice_webhooks::signature::{Secret, standard_signature};
use sluice_webhooks::{Egress, Ingress, WebhooksConfig};
use tokio::sync::Mutex;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug, Parser)]
struct Args {
    /// Signed requests in the ingress run (after a warm-up of 2 000).
    #[arg(long, default_value_t = 50_000)]
    requests: u64,
    /// Senders in the ingress run, each on its own keep-alive connection.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Requests per second in the end-to-end run (0: skip it).
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// How long the end-to-end run lasts.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// A Kafka cluster to use instead of the embedded mock cluster; the
    /// topics `webhooks.load` and `webhooks.load.e2e` must exist and be
    /// empty.
    #[arg(long)]
    brokers: Option<String>,
}

fn ingress_config(bootstrap: &str) -> String {
    format!(
        r#"
[ingress]
listen = "127.0.0.1:0"
[ingress.producer]
source = "/load"
[ingress.producer.kafka]
bootstrap_servers = "{bootstrap}"
[[ingress.source]]
name = "load"
topic = "webhooks.load"
event_type = "com.example.load.v1"
secrets = ["{SECRET}"]
key_pointer = "/key"
[[ingress.source]]
name = "e2e"
topic = "webhooks.load.e2e"
event_type = "com.example.load.v1"
secrets = ["{SECRET}"]
key_pointer = "/key"
"#
    )
}

/// An egress of one endpoint, `url`, for `topic` from its beginning.
fn egress_config(
    bootstrap: &str,
    topic: &str,
    url: &str,
    mock: bool,
) -> anyhow::Result<EgressConfig> {
    let mut text = format!(
        r#"
[egress.kafka]
bootstrap_servers = "{bootstrap}"
[[egress.endpoint]]
name = "receiver"
group_id = "load-{topic}"
url = "{url}"
topics = ["{topic}"]
secrets = ["{SECRET}"]
auto_offset_reset = "earliest"
"#
    );
    // The mock cluster holds every fetch for the consumer's longest wait,
    // records ready or not (docs/performance.md).
    if mock {
        text.push_str("[egress.kafka.properties]\n\"fetch.wait.max.ms\" = \"5\"\n");
    }
    WebhooksConfig::from_toml(&text)?
        .egress
        .context("an egress")
}

/// One signed POST; its latency in microseconds.
async fn send(client: &reqwest::Client, url: &str, id: &str, body: String) -> anyhow::Result<u64> {
    let secret = Secret::standard(SECRET)?;
    let timestamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs() as i64;
    let signature = standard_signature(&[secret], id, timestamp, body.as_bytes());
    let started = Instant::now();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    response.bytes().await?;
    ensure!(status == 202, "{id}: HTTP {status}");
    Ok(started.elapsed().as_micros() as u64)
}

fn micros_since_epoch() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn report(what: &str, count: u64, elapsed: Duration, latency: &Histogram<u64>) {
    println!(
        "{what}: {count} in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        ms(latency.value_at_quantile(0.50)),
        ms(latency.value_at_quantile(0.95)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.max()),
    );
}

/// As many requests as `connections` senders get answered.
async fn ingress_run(url: &str, args: &Args) -> anyhow::Result<()> {
    let warm_up = 2_000;
    let next = Arc::new(AtomicU64::new(0));
    let total = warm_up + args.requests;
    let latency = Arc::new(Mutex::new(histogram()));
    let mut started = None;
    // One client (one keep-alive connection) per sender, kept across the
    // phases: the measured one opens no connections.
    let clients = (0..args.connections)
        .map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build())
        .collect::<Result<Vec<_>, _>>()?;
    for phase in ["warm-up", "measured"] {
        let end = if phase == "warm-up" { warm_up } else { total };
        if phase == "measured" {
            started = Some(Instant::now());
        }
        let mut senders = tokio::task::JoinSet::new();
        for client in &clients {
            let (url, next, latency) = (url.to_owned(), Arc::clone(&next), Arc::clone(&latency));
            let client = client.clone();
            let measured = phase == "measured";
            senders.spawn(async move {
                let mut mine = histogram();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= end {
                        break;
                    }
                    let body = format!(
                        r#"{{"key":"k{}","n":{n},"pad":"{}"}}"#,
                        n % 1000,
                        "x".repeat(200)
                    );
                    let micros = send(&client, &url, &format!("load-{n}"), body).await?;
                    if measured {
                        mine.record(micros)?;
                    }
                }
                latency.lock().await.add(&mine)?;
                anyhow::Ok(())
            });
        }
        while let Some(result) = senders.join_next().await {
            result??;
        }
        next.store(end, Ordering::Relaxed);
    }
    let elapsed = started.context("measured")?.elapsed();
    let latency = latency.lock().await;
    report(
        &format!(
            "ingress, {} connections, signed, 202 after the ack",
            args.connections
        ),
        args.requests,
        elapsed,
        &latency,
    );
    Ok(())
}

/// `rate` requests per second for `duration` into the ingress, each timed
/// until the receiver has it.
async fn end_to_end_run(
    url: &str,
    args: &Args,
    arrivals: Arc<Mutex<Histogram<u64>>>,
    count: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let senders = 16usize;
    let per_sender = args.rate as f64 / senders as f64;
    let total = (args.rate as f64 * args.duration.as_secs_f64()) as u64;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let (url, next) = (url.to_owned(), Arc::clone(&next));
        tasks.spawn(async move {
            let client = reqwest::Client::new();
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / per_sender));
            loop {
                ticks.tick().await;
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let body = format!(
                    r#"{{"key":"k{}","n":{n},"sent_at_us":{}}}"#,
                    n % 1000,
                    micros_since_epoch()
                );
                send(&client, &url, &format!("e2e-{n}"), body).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    let sent_in = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::Relaxed) < total {
        if Instant::now() > deadline {
            bail!(
                "the receiver got {} of {total}",
                count.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered_in = started.elapsed();
    println!(
        "end to end: {total} sent at {:.0}/s, all delivered after {:.2} s",
        total as f64 / sent_in.as_secs_f64(),
        delivered_in.as_secs_f64()
    );
    report(
        "sender's POST → ingress → Kafka → egress → receiver",
        total,
        delivered_in,
        &*arrivals.lock().await,
    );
    Ok(())
}

/// A receiver answering 200 at once: it times each arrival that has a
/// `sent_at_us` and counts the distinct `n` of the others.
async fn receiver(
    arrivals: Arc<Mutex<Histogram<u64>>>,
    count: Arc<AtomicU64>,
    untimed: Arc<AtomicU64>,
) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seen = Arc::new(Mutex::new(std::collections::HashSet::new()));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (arrivals, count, untimed, seen) = (
                Arc::clone(&arrivals),
                Arc::clone(&count),
                Arc::clone(&untimed),
                Arc::clone(&seen),
            );
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let (arrivals, count, untimed, seen) = (
                        Arc::clone(&arrivals),
                        Arc::clone(&count),
                        Arc::clone(&untimed),
                        Arc::clone(&seen),
                    );
                    async move {
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let json: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        if let Some(sent) = json["sent_at_us"].as_u64() {
                            let _ = arrivals
                                .lock()
                                .await
                                .record(micros_since_epoch().saturating_sub(sent).max(1));
                            count.fetch_add(1, Ordering::Relaxed);
                        } else if let Some(n) = json["n"].as_u64() {
                            // Distinct records only: a redelivery does not count.
                            if seen.lock().await.insert(n) {
                                untimed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}/hooks"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mock;
    let bootstrap = match &args.brokers {
        Some(brokers) => brokers.clone(),
        None => {
            mock = sluice_testkit::MockKafka::start(1)?;
            mock.create_topic("webhooks.load", 3)?;
            mock.create_topic("webhooks.load.e2e", 3)?;
            mock.create_topic("webhooks.load.e2e.dlq", 1)?;
            mock.bootstrap_servers()
        }
    };
    let arrivals = Arc::new(Mutex::new(histogram()));
    let count = Arc::new(AtomicU64::new(0));
    let untimed = Arc::new(AtomicU64::new(0));
    let receiver_url = receiver(
        Arc::clone(&arrivals),
        Arc::clone(&count),
        Arc::clone(&untimed),
    )
    .await?;
    let mock = args.brokers.is_none();
    let config = WebhooksConfig::from_toml(&ingress_config(&bootstrap))?;
    let registry = Arc::new(sluice_core::SchemaRegistry::default());
    let ingress = Ingress::bind(config.ingress.as_ref().context("ingress")?, None).await?;
    let addr = ingress.local_addr().context("an address")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let ingress_task = tokio::spawn(ingress.run(until_stopped(stopped.clone())));

    ingress_run(&format!("http://{addr}/webhooks/load"), &args).await?;
    if args.rate > 0 {
        let egress = Egress::start(
            &egress_config(&bootstrap, "webhooks.load.e2e", &receiver_url, mock)?,
            Arc::clone(&registry),
        )?;
        let (egress_stop, egress_stopped) = tokio::sync::watch::channel(false);
        let status = egress.status();
        let egress_task = tokio::spawn(egress.run(until_stopped(egress_stopped)));
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Err(why) = status.ready() {
            ensure!(Instant::now() < deadline, "the egress is not ready: {why}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        end_to_end_run(
            &format!("http://{addr}/webhooks/e2e"),
            &args,
            arrivals,
            count,
        )
        .await?;
        let _ = egress_stop.send(true);
        egress_task.await??;
    }
    // The egress alone: the ingress run's records, delivered from the
    // beginning of their topic as fast as the endpoint takes them.
    let backlog = 2_000 + args.requests;
    let egress = Egress::start(
        &egress_config(&bootstrap, "webhooks.load", &receiver_url, mock)?,
        registry,
    )?;
    let egress_task = tokio::spawn(egress.run(until_stopped(stopped.clone())));
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut first = None;
    while untimed.load(Ordering::Relaxed) < backlog {
        ensure!(
            Instant::now() < deadline,
            "the egress delivered {} of {backlog}",
            untimed.load(Ordering::Relaxed)
        );
        if first.is_none() && untimed.load(Ordering::Relaxed) > 0 {
            first = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = first.context("a first delivery")?.elapsed();
    println!(
        "egress alone: {backlog} deliveries in {:.2} s = {:.0}/s (first to last, signed, 2xx awaited)",
        elapsed.as_secs_f64(),
        backlog as f64 / elapsed.as_secs_f64()
    );
    let _ = stop.send(true);
    egress_task.await??;
    let _ = stop.send(true);
    ingress_task.await??;
    Ok(())
}
