//! End to end on Tansu (Kafka) and moto (AWS): Kafka → EventBridge → SQS,
//! Kafka → FIFO queue with replay, and records AWS or the limits refuse
//! landing in the DLQ topic.

mod common;

use std::collections::{HashMap, HashSet};

use anyhow::{Context as _, ensure};
use common::{Env, Running, SOURCE, config, counts, header, read_topic, sequence_of};
use serde_json::Value;
use sluice_consumer::dlq::headers as dlq;
use sluice_core::Event as _;
use sluice_events::proto::EmailReceived;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_reach_sqs_through_an_eventbridge_rule_once_each() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let topic = "email.received";
    env.topics(topic, 3).await?;
    let queue = env.rule_to_queue("sluice", "bus-target").await?;

    let n = 300;
    common::produce(&env.bootstrap(), topic, 0..n, 12).await?;
    let bridge = Running::start(
        config(
            &env,
            &env.moto.endpoint_url(),
            &format!(
                "[[route]]\nname = \"bus\"\ntopics = [\"{topic}\"]\neventbridge = {{ event_bus = \"sluice\" }}\n"
            ),
        )?,
        env.moto.sdk_config(),
    )
    .await?;
    let messages = env.receive(&queue, n as usize).await?;
    bridge.wait_caught_up().await?;
    bridge.stop().await?;

    let mut sequences = Vec::new();
    let mut ids = HashSet::new();
    for message in &messages {
        let event: Value = serde_json::from_str(message.body().context("a body")?)?;
        ensure!(event["source"] == SOURCE, "source in {event}");
        ensure!(
            event["detail-type"] == EmailReceived::EVENT_TYPE,
            "detail-type in {event}"
        );
        let detail = &event["detail"];
        ensure!(detail["specversion"] == "1.0", "a CloudEvent: {detail}");
        ensure!(detail["type"] == EmailReceived::EVENT_TYPE);
        ensure!(detail["source"] == SOURCE);
        ensure!(detail["datacontenttype"] == "application/json");
        let id = detail["id"].as_str().context("an event id")?;
        ensure!(ids.insert(id.to_owned()), "event id {id} twice");
        let data = &detail["data"];
        let sequence = sequence_of(data)?;
        let expected = common::event(sequence, 12);
        ensure!(data["emailId"] == expected.email_id, "{data}");
        ensure!(
            data["sizeBytes"].as_str() == Some(expected.size_bytes.to_string().as_str()),
            "{data}"
        );
        ensure!(data["headers"]["x-spam"] == "no", "{data}");
        sequences.push(sequence);
    }
    sequences.sort_unstable();
    ensure!(sequences == (0..n).collect::<Vec<_>>(), "each event once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fifo_queue_keeps_group_order_and_a_replay_adds_nothing() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let topic = "email.received";
    env.topics(topic, 4).await?;
    let queue = env.queue("emails.fifo", &[]).await?;
    let keys = 8;
    let n = 400;
    common::produce(&env.bootstrap(), topic, 0..n, keys).await?;
    let route = |group: &str| {
        format!(
            "[[route]]\nname = \"fifo\"\ngroup_id = \"{group}\"\ntopics = [\"{topic}\"]\nsqs = {{ queue_url = \"{queue}\", message_group = \"key\" }}\n"
        )
    };

    let first = Running::start(
        config(&env, &env.moto.endpoint_url(), &route("first"))?,
        env.moto.sdk_config(),
    )
    .await?;
    env.wait_for_depth(&queue, n as usize).await?;
    first.wait_caught_up().await?;
    first.stop().await?;

    // The same records again, through a new group: the deduplication ids
    // are the records' event ids, so SQS keeps one message per record.
    let replay = Running::start(
        config(&env, &env.moto.endpoint_url(), &route("replay"))?,
        env.moto.sdk_config(),
    )
    .await?;
    replay.wait_caught_up().await?;
    replay.stop().await?;
    env.wait_for_depth(&queue, n as usize).await?;

    let messages = env.receive(&queue, n as usize).await?;
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut seen = Vec::new();
    for message in &messages {
        let group = message
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
            .context("a message group id")?
            .clone();
        let body: Value = serde_json::from_str(message.body().context("a body")?)?;
        let sequence = sequence_of(&body)?;
        ensure!(
            group == sluice_testkit::sequenced::key(sequence, keys),
            "event {sequence} in group {group}"
        );
        if let Some(previous) = last.insert(group.clone(), sequence) {
            ensure!(
                previous < sequence,
                "group {group}: {sequence} after {previous}"
            );
        }
        let attributes = message.message_attributes().context("attributes")?;
        ensure!(
            attributes["ce_type"].string_value() == Some(EmailReceived::EVENT_TYPE),
            "ce_type attribute"
        );
        ensure!(attributes.contains_key("ce_id"), "ce_id attribute");
        seen.push(sequence);
    }
    seen.sort_unstable();
    ensure!(seen == (0..n).collect::<Vec<_>>(), "each event once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_records_land_in_the_dlq_with_the_reason() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let bus_topic = "to.bus";
    let queue_topic = "to.queue";
    env.topics(bus_topic, 1).await?;
    env.topics(queue_topic, 1).await?;
    env.eventbridge()
        .create_event_bus()
        .name("sluice")
        .send()
        .await?;
    // A queue that takes at most 1 KiB per message: the bridge reads the
    // limit from the queue's attributes.
    let queue = env
        .queue("small", &[("MaximumMessageSize", "1024")])
        .await?;

    let good = common::event(1, 1);
    let value = sluice_core::Encoder::new().encode(&good)?;
    let envelope = |source: &str| {
        vec![
            ("ce_specversion", "1.0".to_owned()),
            ("ce_id", format!("id-{source}")),
            ("ce_source", source.to_owned()),
            ("ce_type", EmailReceived::EVENT_TYPE.to_owned()),
        ]
    };
    let send = |topic: &'static str, value: Vec<u8>, headers: Vec<(&'static str, String)>| {
        let bootstrap = env.bootstrap();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            common::produce_raw(&bootstrap, topic, "k", &value, &headers).await
        }
    };
    // To the bus: accepted; an empty ce_source, which EventBridge refuses;
    // bytes that are not a framed record.
    send(bus_topic, value.clone(), envelope(SOURCE)).await?;
    send(bus_topic, value.clone(), envelope("")).await?;
    send(bus_topic, b"not an event".to_vec(), envelope(SOURCE)).await?;
    // To the queue: a small event, accepted; a large one, over the queue's
    // limit.
    send(queue_topic, value.clone(), envelope(SOURCE)).await?;
    let mut large = good.clone();
    large.subject = "x".repeat(2000);
    send(
        queue_topic,
        sluice_core::Encoder::new().encode(&large)?,
        envelope(SOURCE),
    )
    .await?;

    let routes = format!(
        "[[route]]\nname = \"bus\"\ntopics = [\"{bus_topic}\"]\neventbridge = {{ event_bus = \"sluice\" }}\n\n\
         [[route]]\nname = \"queue\"\ntopics = [\"{queue_topic}\"]\nsqs = {{ queue_url = \"{queue}\" }}\n"
    );
    let bridge = Running::start(
        config(&env, &env.moto.endpoint_url(), &routes)?,
        env.moto.sdk_config(),
    )
    .await?;
    let bus_dlq = read_topic(&env.bootstrap(), &format!("{bus_topic}.dlq"), 2)?;
    let queue_dlq = read_topic(&env.bootstrap(), &format!("{queue_topic}.dlq"), 1)?;
    bridge.wait_caught_up().await?;
    bridge.stop().await?;
    let delivered = env.receive(&queue, 1).await?;
    ensure!(delivered.len() == 1);

    let classes: HashMap<String, usize> =
        counts(bus_dlq.iter().filter_map(|r| header(r, dlq::ERROR_CLASS)));
    ensure!(
        classes.get("aws.InvalidArgument") == Some(&1),
        "classes {classes:?}"
    );
    ensure!(
        classes.get("wrong_magic_byte") == Some(&1),
        "classes {classes:?}"
    );
    let refused = bus_dlq
        .iter()
        .find(|r| header(r, dlq::ERROR_CLASS).as_deref() == Some("aws.InvalidArgument"))
        .unwrap();
    let message = header(refused, dlq::ERROR_MESSAGE).unwrap_or_default();
    ensure!(
        message.contains("InvalidArgument") && message.contains("Source"),
        "the AWS reason: {message}"
    );
    ensure!(header(refused, dlq::TOPIC).as_deref() == Some(bus_topic));
    ensure!(
        header(refused, "ce_source").as_deref() == Some(""),
        "original headers kept"
    );
    use rdkafka::Message as _;
    ensure!(
        refused.payload() == Some(value.as_slice()),
        "original value kept"
    );

    let oversize = &queue_dlq[0];
    ensure!(
        header(oversize, dlq::ERROR_CLASS).as_deref() == Some("oversize_entry"),
        "class {:?}",
        header(oversize, dlq::ERROR_CLASS)
    );
    let message = header(oversize, dlq::ERROR_MESSAGE).unwrap_or_default();
    ensure!(message.contains("1024"), "names the limit: {message}");
    Ok(())
}
