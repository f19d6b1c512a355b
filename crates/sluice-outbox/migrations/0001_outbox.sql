-- The outbox and inbox tables. {schema}, {outbox}, {inbox} and their
-- index names are replaced by validated, quoted identifiers
-- (sluice_outbox::migrate); the file is otherwise plain SQL for tools that
-- apply migrations themselves.
--
-- The first five outbox columns are Debezium's outbox event router layout;
-- the rest are sluice's. The relay publishes `payload` to the topic named
-- by `aggregatetype`, keyed by `aggregateid`, with `headers` as record
-- headers.

CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {schema}.{outbox} (
    id            text        NOT NULL UNIQUE,  -- the event's ce_id
    aggregatetype text        NOT NULL,         -- the Kafka topic
    aggregateid   text        NOT NULL,         -- the Kafka key
    type          text        NOT NULL,         -- the event's ce_type
    payload       bytea       NOT NULL,         -- the framed value
    -- sluice's columns
    seq           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    headers       jsonb       NOT NULL DEFAULT '{}',  -- record headers, name → UTF-8 value
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    status        text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'published', 'dead')),
    published_at  timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    error_class   text,
    error         text
);

-- What the relay reads: pending rows in insertion order.
CREATE INDEX IF NOT EXISTS {outbox_pending} ON {schema}.{outbox} (seq) WHERE status = 'pending';
-- Dead-lettered rows, for the CLI and the gauges.
CREATE INDEX IF NOT EXISTS {outbox_dead} ON {schema}.{outbox} (seq) WHERE status = 'dead';
-- Retention of published rows.
CREATE INDEX IF NOT EXISTS {outbox_published} ON {schema}.{outbox} (published_at) WHERE status = 'published';

CREATE TABLE IF NOT EXISTS {schema}.{inbox} (
    consumer_group text        NOT NULL,
    event_id       text        NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer_group, event_id)
);

CREATE INDEX IF NOT EXISTS {inbox_received} ON {schema}.{inbox} (received_at);
