//! The writing side: [`Outbox::enqueue`] puts an event into the caller's
//! own transaction, so it is published if and only if that transaction
//! commits.

use std::collections::BTreeMap;

use sluice_core::{Encoder, Envelope, Event};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::config::OutboxConfig;
use crate::error::{OutboxError, Result};
use crate::names::Names;

/// Writes events into the outbox table. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    names: Names,
    encoder: Encoder,
    source: String,
    topics: BTreeMap<String, String>,
    insert_sql: String,
    /// `None` when the configuration turns notifications off.
    notify_sql: Option<String>,
}

/// One event as a row: what the Kafka record needs.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    topic: String,
    key: String,
    event_type: &'static str,
    payload: Vec<u8>,
    headers: serde_json::Value,
}

impl Outbox {
    /// An outbox in the tables `config` names, whose events carry
    /// `ce_source = source` and go to the topics a producer would send them
    /// to (`email.received.v1` → `email.received`).
    pub fn new(config: &OutboxConfig, source: impl Into<String>) -> Result<Self> {
        let names = config.names()?;
        let table = names.outbox_table();
        Ok(Self {
            insert_sql: format!(
                "INSERT INTO {table} (id, aggregatetype, aggregateid, type, payload, headers) \
                 SELECT i, t, k, ty, p, h FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::jsonb[]) \
                 WITH ORDINALITY AS u(i, t, k, ty, p, h, n) ORDER BY n"
            ),
            notify_sql: config
                .notify
                .then(|| format!("NOTIFY {}", names.channel.quoted())),
            names,
            encoder: Encoder::new(),
            source: source.into(),
            topics: BTreeMap::new(),
        })
    }

    /// Topics per event type, as the producer's `topics` setting; types not
    /// listed go to the default topic.
    pub fn with_topics(mut self, topics: BTreeMap<String, String>) -> Self {
        self.topics = topics;
        self
    }

    /// Values larger than this are refused at enqueue rather than
    /// dead-lettered by the relay.
    pub fn with_max_record_bytes(mut self, limit: usize) -> Self {
        self.encoder = self.encoder.with_max_record_bytes(limit);
        self
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The topic events of `event_type` are published to.
    pub fn topic_for(&self, event_type: &str) -> String {
        self.topics
            .get(event_type)
            .cloned()
            .unwrap_or_else(|| sluice_producer::producer::default_topic_name(event_type))
    }

    /// Adds `event` to the outbox in `tx`, with a fresh envelope carrying
    /// the current span's trace context; returns its id (`ce_id`).
    pub async fn enqueue<E: Event>(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: &E,
    ) -> Result<String> {
        let envelope = self.envelope::<E>();
        let id = envelope.id.clone();
        self.insert(tx, vec![self.row(event, envelope)?]).await?;
        Ok(id)
    }

    /// [`enqueue`](Self::enqueue) with the given envelope (correlation and
    /// causation ids, an explicit trace).
    pub async fn enqueue_with<E: Event>(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: &E,
        envelope: Envelope,
    ) -> Result<String> {
        let id = envelope.id.clone();
        self.insert(tx, vec![self.row(event, envelope)?]).await?;
        Ok(id)
    }

    /// Adds every event in one statement, in order (their `seq` follows the
    /// order given); returns their ids.
    pub async fn enqueue_all<'e, E: Event + 'e>(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: impl IntoIterator<Item = &'e E>,
    ) -> Result<Vec<String>> {
        let rows = events
            .into_iter()
            .map(|event| self.row(event, self.envelope::<E>()))
            .collect::<Result<Vec<_>>>()?;
        let ids = rows.iter().map(|r| r.id.clone()).collect();
        self.insert(tx, rows).await?;
        Ok(ids)
    }

    fn envelope<E: Event>(&self) -> Envelope {
        let mut envelope = Envelope::new::<E>(self.source.clone());
        envelope.trace = sluice_telemetry::propagation::current();
        envelope
    }

    fn row<E: Event>(&self, event: &E, envelope: Envelope) -> Result<Row> {
        let payload = self
            .encoder
            .encode(event)
            .map_err(|source| OutboxError::Encode {
                event_type: E::EVENT_TYPE,
                source,
            })?;
        let mut headers = serde_json::Map::new();
        envelope.write_headers(|name, value| {
            // Every envelope header is UTF-8 text.
            headers.insert(
                name.to_owned(),
                serde_json::Value::String(String::from_utf8_lossy(value).into_owned()),
            );
        });
        Ok(Row {
            id: envelope.id,
            topic: self.topic_for(E::EVENT_TYPE),
            key: event.partition_key().to_owned(),
            event_type: E::EVENT_TYPE,
            payload,
            headers: serde_json::Value::Object(headers),
        })
    }

    async fn insert(&self, tx: &mut PgConnection, rows: Vec<Row>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut topics = Vec::with_capacity(rows.len());
        let mut keys = Vec::with_capacity(rows.len());
        let mut types = Vec::with_capacity(rows.len());
        let mut payloads = Vec::with_capacity(rows.len());
        let mut headers = Vec::with_capacity(rows.len());
        for row in rows {
            ids.push(row.id);
            topics.push(row.topic);
            keys.push(row.key);
            types.push(row.event_type.to_owned());
            payloads.push(row.payload);
            headers.push(row.headers);
        }
        sqlx::query(&self.insert_sql)
            .bind(ids)
            .bind(topics)
            .bind(keys)
            .bind(types)
            .bind(payloads)
            .bind(headers)
            .execute(&mut *tx)
            .await
            .map_err(OutboxError::db("inserting into the outbox"))?;
        // Delivered to LISTENers when the transaction commits, not before,
        // and never when it rolls back; repeated NOTIFYs in one
        // transaction are folded into one.
        if let Some(notify) = &self.notify_sql {
            sqlx::query(notify)
                .execute(&mut *tx)
                .await
                .map_err(OutboxError::db("notifying the relay"))?;
        }
        Ok(())
    }
}
