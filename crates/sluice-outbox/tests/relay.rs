//! The relay on a real PostgreSQL and librdkafka's mock cluster: what is
//! published, in which order, with which headers, and what is
//! dead-lettered.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use anyhow::ensure;
use common::{Env, TOPIC, arrivals, check_order, read_all};
use rdkafka::Message as _;
use sluice_outbox::Outbox;
use sluice_outbox::admin::{self, RetrySelection, RowState};
use sluice_testkit::{header_text, sequenced};

const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolled_back_writes_publish_nothing_and_committed_ones_exactly_their_events()
-> anyhow::Result<()> {
    let env = Env::start(3).await?;
    let relay = env.spawn_relay("", "").await?;
    let outbox = Outbox::new(&env.outbox, common::SOURCE)?;

    let mut tx = env.pool.begin().await?;
    let rolled_back: Vec<_> = (1000..1003).map(|s| sequenced::event(s, "agg-x")).collect();
    outbox.enqueue_all(&mut tx, &rolled_back).await?;
    tx.rollback().await?;

    let events: Vec<_> = (0..12)
        .map(|s| sequenced::event(s, &sequenced::key(s, 3)))
        .collect();
    let mut tx = env.pool.begin().await?;
    let mut ids = outbox.enqueue_all(&mut tx, &events[..10]).await?;
    tx.commit().await?;
    let mut tx = env.pool.begin().await?;
    ids.push(outbox.enqueue(&mut tx, &events[10]).await?);
    ids.push(outbox.enqueue(&mut tx, &events[11]).await?);
    tx.commit().await?;

    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, 12)?;
    ensure!(records.len() == 12, "{} records", records.len());
    let arrived = arrivals(&records)?;
    ensure!(arrived.duplicates == 0);
    check_order(&arrived)?;
    let got: HashSet<_> = records
        .iter()
        .filter_map(|r| header_text(r, "ce_id"))
        .collect();
    ensure!(got == ids.iter().cloned().collect(), "ids differ");
    for record in &records {
        ensure!(header_text(record, "ce_specversion").as_deref() == Some("1.0"));
        ensure!(header_text(record, "ce_type").as_deref() == Some("email.received.v1"));
        ensure!(header_text(record, "ce_source").as_deref() == Some(common::SOURCE));
        ensure!(header_text(record, "ce_time").is_some());
        ensure!(
            header_text(record, "content-type").as_deref()
                == Some("application/vnd.confluent.protobuf")
        );
        let seq = common::sequence(record)?;
        ensure!(seq < 12, "a rolled-back event arrived: {seq}");
        ensure!(common::key(record) == sequenced::key(seq, 3));
    }
    env.drained(TIMEOUT).await?;
    ensure!(env.count("dead").await? == 0);
    relay.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_per_aggregate_order_and_kept_rows_are_marked() -> anyhow::Result<()>
{
    let env = Env::start(4).await?;
    let relay = env
        .spawn_relay("batch_size = 100\nretention = \"keep\"", "")
        .await?;
    let outbox = Outbox::new(&env.outbox, common::SOURCE)?;
    let (writers, per_writer, aggregates_per_writer) = (8u64, 300u64, 5u64);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (pool, outbox) = (env.pool.clone(), outbox.clone());
        tasks.push(tokio::spawn(async move {
            // Writer `w` owns its aggregates: their order is its order.
            for i in 0..per_writer {
                let seq = w * per_writer + i;
                let key = format!(
                    "agg-{}",
                    w * aggregates_per_writer + i % aggregates_per_writer
                );
                let mut tx = pool.begin().await?;
                outbox
                    .enqueue(&mut tx, &sequenced::event(seq, &key))
                    .await?;
                tx.commit().await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let total = (writers * per_writer) as usize;
    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, total)?;
    let arrived = arrivals(&records)?;
    ensure!(arrived.distinct == total, "{} of {total}", arrived.distinct);
    ensure!(
        arrived.duplicates == 0,
        "{} duplicates without a failure",
        arrived.duplicates
    );
    check_order(&arrived)?;
    env.drained(TIMEOUT).await?;
    ensure!(env.count("published").await? == total as i64);
    let status = admin::status(&env.pool, &env.outbox.names()?).await?;
    ensure!(
        status.pending == 0 && status.published == total as i64,
        "{status:?}"
    );
    relay.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_rows_are_dead_lettered_and_the_relay_keeps_going() -> anyhow::Result<()> {
    let env = Env::start(1).await?;
    let outbox = Outbox::new(&env.outbox, common::SOURCE)?;
    let table = env.outbox.names()?.outbox_table();
    let insert_raw = |id: &str,
                      topic: &str,
                      ty: &str,
                      payload: Vec<u8>,
                      headers: serde_json::Value| {
        let sql = format!(
            "INSERT INTO {table} (id, aggregatetype, aggregateid, type, payload, headers) VALUES ($1, $2, 'agg-bad', $3, $4, $5)"
        );
        let (pool, id, topic, ty) = (
            env.pool.clone(),
            id.to_owned(),
            topic.to_owned(),
            ty.to_owned(),
        );
        async move {
            sqlx::query(&sql)
                .bind(id)
                .bind(topic)
                .bind(ty)
                .bind(payload)
                .bind(headers)
                .execute(&pool)
                .await
        }
    };
    let good_payload = sluice_core::Encoder::new().encode(&sequenced::event(99, "agg-bad"))?;
    let headers = serde_json::json!({"ce_specversion": "1.0", "ce_id": "x", "ce_source": "/t", "ce_type": "email.received.v1"});

    let mut tx = env.pool.begin().await?;
    outbox
        .enqueue(&mut tx, &sequenced::event(0, "agg-bad"))
        .await?;
    tx.commit().await?;
    insert_raw(
        "unknown-type",
        TOPIC,
        "nobody.knows.v1",
        good_payload.clone(),
        headers.clone(),
    )
    .await?;
    insert_raw(
        "garbage",
        TOPIC,
        "email.received.v1",
        b"\x00\x00\x00\x03\xe7garbage".to_vec(),
        headers.clone(),
    )
    .await?;
    insert_raw(
        "not-framed",
        TOPIC,
        "email.received.v1",
        b"{}".to_vec(),
        headers.clone(),
    )
    .await?;
    insert_raw(
        "bad-headers",
        TOPIC,
        "email.received.v1",
        good_payload.clone(),
        serde_json::json!({"ce_id": 5}),
    )
    .await?;
    insert_raw(
        "too-large",
        TOPIC,
        "email.received.v1",
        {
            let big =
                sluice_events::samples::proto_email_received_sized(&Default::default(), 20_000);
            sluice_core::Encoder::new().encode(&big)?
        },
        headers.clone(),
    )
    .await?;
    let mut tx = env.pool.begin().await?;
    outbox
        .enqueue(&mut tx, &sequenced::event(1, "agg-bad"))
        .await?;
    outbox
        .enqueue(&mut tx, &sequenced::event(2, "agg-good"))
        .await?;
    tx.commit().await?;

    let relay = env
        .spawn_relay("", "max_record_bytes = 10000\nmax_buffered_bytes = 1000000")
        .await?;
    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, 3)?;
    let arrived = arrivals(&records)?;
    ensure!(
        arrived.distinct == 3 && arrived.duplicates == 0,
        "{arrived:?}"
    );
    check_order(&arrived)?;
    env.drained(TIMEOUT).await?;

    let names = env.outbox.names()?;
    let dead = admin::list(&env.pool, &names, RowState::Dead, 100).await?;
    let class_of = |id: &str| {
        dead.iter()
            .find(|r| r.id == id)
            .and_then(|r| r.error_class.clone())
            .unwrap_or_default()
    };
    ensure!(dead.len() == 5, "{dead:#?}");
    ensure!(
        class_of("unknown-type") == "unknown_event_type",
        "{dead:#?}"
    );
    ensure!(class_of("garbage") == "unknown_schema_id", "{dead:#?}");
    ensure!(class_of("not-framed") == "wrong_magic_byte", "{dead:#?}");
    ensure!(class_of("bad-headers") == "invalid_headers", "{dead:#?}");
    ensure!(class_of("too-large") == "record_too_large", "{dead:#?}");
    for row in &dead {
        ensure!(
            row.error.as_deref().is_some_and(|e| !e.is_empty()),
            "{row:?}"
        );
    }
    let status = admin::status(&env.pool, &names).await?;
    ensure!(status.dead == 5 && status.pending == 0, "{status:?}");
    ensure!(status.dead_by_class.len() == 5, "{status:?}");

    // Retried, they fail the same way: back to dead, nothing sent.
    let retried = admin::retry(
        &env.pool,
        &names,
        &RetrySelection::Class("invalid_headers".into()),
    )
    .await?;
    ensure!(retried == 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.drained(TIMEOUT).await?;
    ensure!(env.count("dead").await? == 5);
    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, 3)?;
    ensure!(records.len() == 3, "{} records", records.len());
    ensure!(records.iter().all(|r| r.payload().is_some()));
    relay.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_topic_dead_letters_its_rows_only() -> anyhow::Result<()> {
    let env = Env::start(1).await?;
    let outbox = Outbox::new(&env.outbox, common::SOURCE)?;
    let lost = Outbox::new(&env.outbox, common::SOURCE)?
        .with_topics([("email.received.v1".to_owned(), "no.such.topic".to_owned())].into());
    let mut tx = env.pool.begin().await?;
    outbox
        .enqueue(&mut tx, &sequenced::event(0, "agg-1"))
        .await?;
    let lost_id = lost.enqueue(&mut tx, &sequenced::event(1, "agg-1")).await?;
    outbox
        .enqueue(&mut tx, &sequenced::event(2, "agg-1"))
        .await?;
    outbox
        .enqueue(&mut tx, &sequenced::event(3, "agg-2"))
        .await?;
    tx.commit().await?;
    let relay = env
        .spawn_relay_with(
            "",
            "",
            r#""allow.auto.create.topics" = "false", "topic.metadata.propagation.max.ms" = "1000""#,
        )
        .await?;
    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, 3)?;
    let arrived = arrivals(&records)?;
    ensure!(
        arrived.distinct == 3 && arrived.duplicates == 0,
        "{arrived:?}"
    );
    check_order(&arrived)?;
    env.drained(TIMEOUT).await?;
    let dead = admin::list(&env.pool, &env.outbox.names()?, RowState::Dead, 10).await?;
    ensure!(dead.len() == 1 && dead[0].id == lost_id, "{dead:#?}");
    ensure!(dead[0].topic == "no.such.topic");
    ensure!(
        dead[0].error_class.as_deref() == Some("unknown_topic"),
        "{dead:#?}"
    );
    relay.stop().await?;
    Ok(())
}

/// Kafka's default partitioner for a keyed record (murmur2, positive,
/// modulo the partition count), which sluice's `murmur2_random` follows.
fn partition_of(key: &str, partitions: u32) -> u32 {
    let data = key.as_bytes();
    let (seed, m, r) = (0x9747_b28c_u32, 0x5bd1_e995_u32, 24);
    let mut h = seed ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(m);
        k ^= k >> r;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(m);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    (h & 0x7fff_ffff) % partitions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_partition_holds_back_only_its_aggregates() -> anyhow::Result<()> {
    let env = Env::start_with_brokers(2, 2).await?;
    // Partition 0 on broker 1, partition 1 on broker 2; then broker 1 goes.
    env.kafka.cluster().partition_leader(TOPIC, 0, Some(1))?;
    env.kafka.cluster().partition_leader(TOPIC, 1, Some(2))?;
    let keys: Vec<String> = (0..40).map(|i| format!("agg-{i}")).collect();
    let down: Vec<&String> = keys.iter().filter(|k| partition_of(k, 2) == 0).collect();
    let up: Vec<&String> = keys.iter().filter(|k| partition_of(k, 2) == 1).collect();
    ensure!(!down.is_empty() && !up.is_empty());
    let relay = env
        .spawn_relay("batch_size = 50", "delivery_timeout_ms = 1500")
        .await?;
    // Let the relay learn the leaders, then take broker 1 down.
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.kafka.cluster().broker_down(1)?;

    let outbox = Outbox::new(&env.outbox, common::SOURCE)?;
    // Many rows of the unreachable aggregates first: more than a batch.
    let mut seq = 0;
    let mut tx = env.pool.begin().await?;
    for _ in 0..5 {
        for key in &down {
            outbox.enqueue(&mut tx, &sequenced::event(seq, key)).await?;
            seq += 1;
        }
    }
    let down_count = seq;
    for key in &up {
        outbox.enqueue(&mut tx, &sequenced::event(seq, key)).await?;
        seq += 1;
    }
    tx.commit().await?;

    // The reachable aggregates go out while the others wait.
    let table = env.outbox.names()?.outbox_table();
    let up_keys: Vec<String> = up.iter().map(|k| (*k).clone()).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE status = 'pending' AND aggregateid = ANY($1)"
        ))
        .bind(&up_keys)
        .fetch_one(&env.pool)
        .await?;
        if left == 0 {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{left} rows of reachable aggregates still pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(
        env.count("pending").await? == down_count as i64,
        "the unreachable aggregates' rows wait"
    );
    ensure!(env.count("dead").await? == 0);

    // Back up: everything arrives, each aggregate in order.
    env.kafka.cluster().broker_up(1)?;
    env.drained(TIMEOUT).await?;
    let records = read_all(&env.kafka.bootstrap_servers(), TOPIC, seq as usize)?;
    let arrived = arrivals(&records)?;
    ensure!(
        arrived.distinct == seq as usize,
        "{} of {seq}",
        arrived.distinct
    );
    check_order(&arrived)?;
    relay.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_stays_out_of_debug_output() -> anyhow::Result<()> {
    let env = Env::start(1).await?;
    // Trust authentication ignores the password, so the relay connects.
    let with_password = env.pg.url().replace("postgres@", "postgres:s3cret-pw@");
    let toml = env
        .relay_toml("", "")
        .replace(&env.pg.url(), &with_password);
    let config = sluice_outbox::RelayConfig::from_toml(&toml)?;
    ensure!(!format!("{config:?}").contains("s3cret-pw"));
    let relay = sluice_outbox::Relay::connect(config, None).await?;
    let debug = format!("{relay:?}");
    ensure!(!debug.contains("s3cret-pw"), "{debug}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_rows_are_deleted_after_their_retention() -> anyhow::Result<()> {
    let env = Env::start(1).await?;
    let outbox = Outbox::new(&env.outbox, common::SOURCE)?;
    let mut tx = env.pool.begin().await?;
    outbox
        .enqueue_all(
            &mut tx,
            &(0..5).map(|s| sequenced::event(s, "k")).collect::<Vec<_>>(),
        )
        .await?;
    tx.commit().await?;
    let relay = env
        .spawn_relay("retention = \"keep\"\nretention_hours = 0", "")
        .await?;
    read_all(&env.kafka.bootstrap_servers(), TOPIC, 5)?;
    env.drained(TIMEOUT).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while env.count("published").await? > 0 {
        ensure!(
            std::time::Instant::now() < deadline,
            "published rows were kept"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    relay.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_committed_after_later_rows_were_published_is_published_too() -> anyhow::Result<()> {
    let env = Env::start(1).await?;
    let relay = env.spawn_relay("", "").await?;
    let outbox = Outbox::new(&env.outbox, common::SOURCE)?;
    // This transaction takes the lowest seq, then stays open.
    let mut late = env.pool.begin().await?;
    outbox
        .enqueue(&mut late, &sequenced::event(0, "agg-late"))
        .await?;
    // Rows with higher seqs commit, and go out, meanwhile.
    let early: Vec<_> = (1..6).map(|s| sequenced::event(s, "agg-early")).collect();
    let mut tx = env.pool.begin().await?;
    outbox.enqueue_all(&mut tx, &early).await?;
    tx.commit().await?;
    env.drained(TIMEOUT).await?;
    let before = read_all(&env.kafka.bootstrap_servers(), TOPIC, 5)?;
    ensure!(
        before.len() == 5,
        "{} records before the late commit",
        before.len()
    );
    late.commit().await?;
    env.drained(TIMEOUT).await?;
    let after = read_all(&env.kafka.bootstrap_servers(), TOPIC, 6)?;
    let seqs: HashSet<u64> = after
        .iter()
        .map(common::sequence)
        .collect::<anyhow::Result<_>>()?;
    ensure!(seqs == (0..6).collect(), "after the late commit: {seqs:?}");
    relay.stop().await?;
    Ok(())
}
