//! The producer against real brokers: ordering at volume, backpressure,
//! an unreachable cluster, oversize records and unknown topics.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sluice_core::Decoder;
use sluice_events::proto::EmailReceived;
use sluice_events::registry;
use sluice_kafka::KafkaConfig;
use sluice_producer::{Producer, ProducerConfig, SendErrorKind};
use sluice_testkit::sequenced::{event, sequence};
use sluice_testkit::{BrokerKind, Tansu, TestBroker, decode_message, free_port};

/// Reads `n` records of `topic` and checks that each key's sequence numbers
/// only go up.
fn consume_in_order(bootstrap: &str, topic: &str, n: usize) -> anyhow::Result<()> {
    let consumer: BaseConsumer = KafkaConfig::new(bootstrap)
        .client_config()
        .set("group.id", format!("{topic}-check"))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[topic])?;
    let decoder = Decoder::new(registry());
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut seen = vec![false; n];
    let mut count = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while count < n {
        ensure!(
            Instant::now() < deadline,
            "only {count} of {n} records consumed"
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        let (event, _) = decode_message::<EmailReceived, _>(&decoder, &message)?;
        let seq = sequence(&event);
        ensure!(message.key() == Some(event.email_id.as_bytes()));
        if let Some(previous) = last.insert(event.email_id.clone(), seq) {
            ensure!(
                seq > previous,
                "key {}: {seq} after {previous}",
                event.email_id
            );
        }
        let slot = seen.get_mut(seq as usize).context("unknown sequence")?;
        ensure!(!*slot, "sequence {seq} twice");
        *slot = true;
        count += 1;
    }
    Ok(())
}

async fn many_events_keep_per_key_order(kind: BrokerKind) -> anyhow::Result<()> {
    let broker = TestBroker::start(kind).await?;
    broker.create_topic("email.received", 6).await?;
    let producer = Producer::builder(ProducerConfig::new(KafkaConfig::new(
        broker.bootstrap_servers(),
    )))
    .build()?;
    let keys: Vec<String> = (0..20).map(|k| format!("email-{k}")).collect();
    let total = 100_000u64;
    let mut pending = Vec::with_capacity(total as usize);
    for seq in 0..total {
        pending.push(
            producer
                .enqueue(event(seq, &keys[(seq % 20) as usize]))
                .await?,
        );
    }
    let mut offsets: HashMap<i32, i64> = HashMap::new();
    for p in pending {
        let delivered = p.wait().await?;
        ensure!(delivered.topic == "email.received");
        let last = offsets.entry(delivered.partition).or_insert(-1);
        ensure!(delivered.offset > *last, "offsets go up per partition");
        *last = delivered.offset;
    }
    let bootstrap = broker.bootstrap_servers();
    tokio::task::spawn_blocking(move || {
        consume_in_order(&bootstrap, "email.received", total as usize)
    })
    .await?
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_thousand_events_over_twenty_keys_on_tansu() -> anyhow::Result<()> {
    many_events_keep_per_key_order(BrokerKind::Tansu).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_buffer_slows_the_sender_and_drops_nothing() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Mock).await?;
    broker.create_topic("email.received", 2).await?;
    let mut config = ProducerConfig::new(KafkaConfig::new(broker.bootstrap_servers()));
    config.max_record_bytes = 4 * 1024;
    config.max_buffered_bytes = 8 * 1024;
    let producer = Producer::builder(config).build()?;
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (producer, peak) = (producer.clone(), Arc::clone(&peak));
        tokio::spawn(async move {
            loop {
                peak.fetch_max(producer.buffered_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    let events: Vec<_> = (0..3_000).map(|seq| event(seq, "email-1")).collect();
    let results = producer.send_all(events).await;
    sampler.abort();
    let failures = results.iter().filter(|r| r.is_err()).count();
    ensure!(failures == 0, "{failures} sends failed");
    let peak = peak.load(Ordering::Relaxed);
    ensure!(
        peak <= 8 * 1024,
        "buffer held {peak} bytes, over its 8 KiB limit"
    );
    ensure!(
        peak > 4 * 1024,
        "the buffer never filled ({peak} bytes): nothing was slowed down"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_cluster_hands_events_back_fails_fast_then_recovers() -> anyhow::Result<()> {
    let port = free_port()?;
    let bootstrap = format!("127.0.0.1:{port}");
    let mut config = ProducerConfig::new(KafkaConfig::new(&bootstrap));
    config.delivery_timeout_ms = 2_000;
    config.circuit_probe_interval_ms = 1_000;
    let producer = Producer::builder(config).build()?;
    let started = Instant::now();
    let results = producer
        .send_all((0..10).map(|seq| event(seq, "email-1")))
        .await;
    for (seq, result) in results.into_iter().enumerate() {
        let err = result.err().context("a send succeeded with no broker")?;
        ensure!(
            matches!(
                err.kind(),
                SendErrorKind::TimedOut | SendErrorKind::Unavailable | SendErrorKind::KeyBlocked
            ),
            "{err}"
        );
        ensure!(err.is_retriable());
        ensure!(
            sequence(&err.into_event()) == seq as u64,
            "the event comes back"
        );
    }
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "errors took {:?}",
        started.elapsed()
    );

    // The circuit is open: at most one send per probe interval is let
    // through; the next one fails at once instead of after 2 s.
    ensure!(producer.is_circuit_open());
    let probe = producer.enqueue(event(49, "email-1")).await;
    let fast = Instant::now();
    let err = producer
        .send(event(50, "email-1"))
        .await
        .err()
        .context("circuit open")?;
    ensure!(err.kind() == SendErrorKind::Unavailable, "{err}");
    ensure!(
        fast.elapsed() < Duration::from_millis(250),
        "took {:?}",
        fast.elapsed()
    );
    ensure!(sequence(err.event()) == 50);

    // A key whose event failed fast keeps its order: send_all does not let
    // a later event of that key through, even when a probe would be.
    let results = producer
        .send_all([
            event(60, "email-1"),
            event(61, "email-2"),
            event(62, "email-1"),
        ])
        .await;
    let kinds: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().err().map(|e| e.kind()))
        .collect();
    if kinds[0] == Some(SendErrorKind::Unavailable) {
        ensure!(kinds[2] == Some(SendErrorKind::KeyBlocked), "{kinds:?}");
    }
    ensure!(kinds.iter().all(Option::is_some), "{kinds:?}");
    let blocked = results.into_iter().nth(2).context("three results")?;
    let blocked = blocked.err().context("the third send failed")?;
    ensure!(blocked.is_retriable() && sequence(blocked.event()) == 62);
    if let Ok(probe) = probe {
        let err = probe
            .wait()
            .await
            .err()
            .context("the probe found no broker")?;
        ensure!(err.kind() == SendErrorKind::TimedOut, "{err}");
    }

    // The cluster comes back: a probe gets through and closes the circuit.
    let tansu = Tansu::start_on(port).await?;
    sluice_testkit::create_topic(&tansu.bootstrap_servers(), "email.received", 1).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        match producer.send(event(99, "email-1")).await {
            Ok(delivered) => break delivered,
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    ensure!(delivered.offset == 0);
    ensure!(!producer.is_circuit_open());
    let next = producer.send(event(100, "email-1")).await?;
    ensure!(next.offset == 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_records_fail_before_sending() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Mock).await?;
    let mut config = ProducerConfig::new(KafkaConfig::new(broker.bootstrap_servers()));
    config.max_record_bytes = 128;
    let producer = Producer::builder(config).build()?;
    let err = producer
        .send(event(1, "email-1"))
        .await
        .err()
        .context("must fail")?;
    ensure!(err.kind() == SendErrorKind::RecordTooLarge, "{err}");
    ensure!(!err.is_retriable());
    ensure!(err.event().email_id == "email-1");
    ensure!(
        !format!("{err:?}").contains("alice@example.com"),
        "events stay out of Debug"
    );
    Ok(())
}

/// `enqueue_ref` sends what `enqueue` sends without keeping the event: the
/// records decode, keep per-key order, and a failure still says why.
#[tokio::test(flavor = "multi_thread")]
async fn borrowed_events_are_sent_and_failures_say_why() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Mock).await?;
    broker.create_topic("email.received", 3).await?;
    let mut config = ProducerConfig::new(KafkaConfig::new(broker.bootstrap_servers()));
    config.max_record_bytes = 4096;
    let producer = Producer::builder(config).build()?;
    let mut pending = Vec::new();
    for seq in 0..500u64 {
        let event = event(seq, &format!("email-{}", seq % 7));
        pending.push(producer.enqueue_ref(&event).await?);
    }
    for p in pending {
        ensure!(p.wait().await?.topic == "email.received");
    }
    let bootstrap = broker.bootstrap_servers();
    tokio::task::spawn_blocking(move || consume_in_order(&bootstrap, "email.received", 500))
        .await??;

    let mut big = event(500, "email-1");
    big.subject = "x".repeat(8192);
    let err = producer
        .enqueue_ref(&big)
        .await
        .err()
        .context("must fail")?;
    ensure!(err.kind() == SendErrorKind::RecordTooLarge, "{err}");
    ensure!(err.to_string().contains("email.received"), "{err}");
    Ok(())
}

/// Records encoded elsewhere (the outbox's rows) go out byte for byte: key,
/// value and headers as given, to the topic given.
#[tokio::test(flavor = "multi_thread")]
async fn encoded_records_are_sent_as_they_are() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Mock).await?;
    broker.create_topic("relayed", 1).await?;
    let mut config = ProducerConfig::new(KafkaConfig::new(broker.bootstrap_servers()));
    config.max_record_bytes = 1024;
    let producer = Producer::builder(config).build()?;
    let headers = vec![
        ("ce_id".to_owned(), b"id-1".to_vec()),
        ("x-binary".to_owned(), vec![0, 255, 7]),
    ];
    let record = sluice_producer::EncodedRecord {
        topic: "relayed",
        key: "k-1",
        value: b"\x00\x00\x00\x00\x02framed",
        headers: &headers,
        id: "id-1",
    };
    let delivered = producer.enqueue_encoded(record).await?.wait().await?;
    ensure!(
        delivered.topic == "relayed" && delivered.event_id == "id-1",
        "{delivered:?}"
    );
    let bootstrap = broker.bootstrap_servers();
    let read =
        tokio::task::spawn_blocking(move || sluice_testkit::read_topic(&bootstrap, "relayed", 1))
            .await??;
    let message = &read[0];
    ensure!(message.key() == Some(b"k-1".as_slice()));
    ensure!(message.payload() == Some(b"\x00\x00\x00\x00\x02framed".as_slice()));
    let got: Vec<(Vec<u8>, Option<Vec<u8>>)> = sluice_kafka::headers::of_message(message)
        .map(|h| (h.name.to_vec(), h.value.map(<[u8]>::to_vec)))
        .collect();
    ensure!(
        got == vec![
            (b"ce_id".to_vec(), Some(b"id-1".to_vec())),
            (b"x-binary".to_vec(), Some(vec![0, 255, 7])),
        ],
        "{got:?}"
    );

    let big = vec![0u8; 2048];
    let err = producer
        .enqueue_encoded(sluice_producer::EncodedRecord {
            value: &big,
            ..record
        })
        .await
        .err()
        .context("must fail")?;
    ensure!(err.kind() == SendErrorKind::RecordTooLarge, "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_topics_fail_fast_on_tansu() -> anyhow::Result<()> {
    let broker = TestBroker::start(BrokerKind::Tansu).await?;
    let mut config = ProducerConfig::new(
        KafkaConfig::new(broker.bootstrap_servers())
            .with_property("topic.metadata.propagation.max.ms", "1000"),
    );
    config.delivery_timeout_ms = 60_000;
    let producer = Producer::builder(config).build()?;
    let started = Instant::now();
    let err = producer
        .send(event(1, "email-1"))
        .await
        .err()
        .context("no such topic")?;
    ensure!(err.kind() == SendErrorKind::UnknownTopic, "{err}");
    ensure!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}: retried instead of failing",
        started.elapsed()
    );
    Ok(())
}

/// Counts the tokens librdkafka asked for, and hands out MSK IAM tokens.
#[derive(Debug)]
struct CountingTokens {
    inner: sluice_kafka::security::MskIamTokenProvider,
    issued: AtomicUsize,
}

impl sluice_kafka::TokenProvider for CountingTokens {
    fn token(&self) -> Result<rdkafka::client::OAuthToken, sluice_kafka::security::TokenError> {
        let token = self.inner.token()?;
        self.issued.fetch_add(1, Ordering::SeqCst);
        Ok(token)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn msk_iam_tokens_come_through_the_refresh_callback() -> anyhow::Result<()> {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use sluice_kafka::{SaslConfig, SecurityConfig};

    let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let tokens = Arc::new(CountingTokens {
        inner: sluice_kafka::security::MskIamTokenProvider::with_credentials(
            "us-east-1",
            SharedCredentialsProvider::new(credentials),
        )?,
        issued: AtomicUsize::new(0),
    });
    // Nothing listens there: librdkafka asks for the first token when the
    // client starts, before it connects anywhere.
    let security = SecurityConfig {
        tls: None,
        sasl: Some(SaslConfig::MskIam {
            region: "us-east-1".into(),
            profile: None,
        }),
    };
    let kafka = KafkaConfig::new(format!("127.0.0.1:{}", free_port()?)).with_security(security);
    let producer = Producer::builder(ProducerConfig::new(kafka))
        .token_provider(Arc::clone(&tokens) as Arc<dyn sluice_kafka::TokenProvider>)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokens.issued.load(Ordering::SeqCst) == 0 {
        ensure!(
            Instant::now() < deadline,
            "librdkafka never asked for a token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(producer);
    Ok(())
}
