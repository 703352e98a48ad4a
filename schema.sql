-- carewatch schema for PostgreSQL + TimescaleDB. Applied by `carewatch db init`; every statement is idempotent.
-- Times are timestamptz (UTC). Identifiers are the registry's own text ids (they appear in MQTT topics).

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Registry ---------------------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS sites (
    site_id     text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('home', 'community_station', 'care_institution')),
    timezone    text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS residents (
    resident_id text PRIMARY KEY,
    site_id     text NOT NULL REFERENCES sites (site_id),
    name        text NOT NULL,
    room        text,
    birth_year  integer CHECK (birth_year BETWEEN 1900 AND 2100),
    spo2_scale  smallint NOT NULL DEFAULT 1 CHECK (spo2_scale IN (1, 2)),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS residents_site ON residents (site_id);

CREATE TABLE IF NOT EXISTS devices (
    device_id     text PRIMARY KEY,
    site_id       text NOT NULL REFERENCES sites (site_id),
    kind          text NOT NULL CHECK (kind IN ('wearable', 'sos_button', 'motion', 'door', 'bed', 'chair',
                                                'bathroom', 'environment', 'smoke', 'gas', 'water')),
    resident_id   text REFERENCES residents (resident_id),
    room          text,
    friendly_name text UNIQUE,  -- Zigbee2MQTT friendly name of a bridged home sensor
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS contacts (
    contact_id  text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('family', 'clinician', 'operator')),
    email       text,
    phone       text
);

CREATE TABLE IF NOT EXISTS resident_contacts (
    resident_id text NOT NULL REFERENCES residents (resident_id),
    contact_id  text NOT NULL REFERENCES contacts (contact_id),
    relation    text NOT NULL,
    priority    smallint NOT NULL DEFAULT 1,
    PRIMARY KEY (resident_id, contact_id)
);

-- Time series ------------------------------------------------------------------------------------------------------
-- Chunk intervals follow TimescaleDB's sizing rule: the newest chunk of each table, with its indexes, should fit in
-- about a quarter of memory. The standard load per resident is ~1 scalar reading a second (vitals every 5 s, status,
-- room sensors) and one accelerometer block a second.

-- Scalar samples: vitals, device status, room environment. One row per (device, metric, sample time).
-- 1-hour chunks: ~7 GB per chunk at 10,000 residents (a quarter of this 24 GiB class of machine); a one-hour
-- dashboard view reads one or two chunks.
CREATE TABLE IF NOT EXISTS readings (
    time        timestamptz NOT NULL,
    site_id     text NOT NULL,
    device_id   text NOT NULL,
    resident_id text,
    metric      text NOT NULL,
    value       double precision NOT NULL,
    seq         bigint NOT NULL,
    artefact    boolean NOT NULL DEFAULT false  -- outside the plausible range: kept, never alerted on
);
SELECT create_hypertable('readings', by_range('time', INTERVAL '1 hour'), if_not_exists => TRUE);
-- The dedupe key: a device reports one value of a metric per instant. Resent messages hit it and are skipped.
CREATE UNIQUE INDEX IF NOT EXISTS readings_dedupe ON readings (device_id, metric, time);
CREATE INDEX IF NOT EXISTS readings_resident ON readings (resident_id, metric, time DESC);

-- Discrete events (SOS, falls reported by devices, doors, beds, motion, smoke ...). A few per resident per minute:
-- 1-day chunks keep the chunk count low for 30-day queries.
CREATE TABLE IF NOT EXISTS events (
    time        timestamptz NOT NULL,
    site_id     text NOT NULL,
    device_id   text NOT NULL,
    resident_id text,
    kind        text NOT NULL,
    value       double precision NOT NULL,
    seq         bigint NOT NULL
);
SELECT create_hypertable('events', by_range('time', INTERVAL '1 day'), if_not_exists => TRUE);
CREATE UNIQUE INDEX IF NOT EXISTS events_dedupe ON events (device_id, kind, time);
CREATE INDEX IF NOT EXISTS events_resident ON events (resident_id, time DESC);
CREATE INDEX IF NOT EXISTS events_site ON events (site_id, time DESC);

-- Accelerometer blocks: one row per message (e.g. 1 s at 25-50 Hz) with the axes as arrays, so 10,000 wearables make
-- 10,000 rows a second rather than 750,000. 30-minute chunks: the widest table; kept only days (retention).
CREATE TABLE IF NOT EXISTS accel (
    time        timestamptz NOT NULL,  -- the first sample
    site_id     text NOT NULL,
    device_id   text NOT NULL,
    resident_id text,
    seq         bigint NOT NULL,
    rate_hz     real NOT NULL CHECK (rate_hz > 0),
    x           real[] NOT NULL,
    y           real[] NOT NULL,
    z           real[] NOT NULL
);
SELECT create_hypertable('accel', by_range('time', INTERVAL '30 minutes'), if_not_exists => TRUE);
CREATE UNIQUE INDEX IF NOT EXISTS accel_dedupe ON accel (device_id, time);

-- Rejected messages, with the reason (docs/protocol.md lists them). Never silently dropped.
CREATE TABLE IF NOT EXISTS dead_letters (
    id            bigserial PRIMARY KEY,
    received_at   timestamptz NOT NULL,
    topic         text NOT NULL,
    reason        text NOT NULL,
    detail        text NOT NULL,
    payload       bytea NOT NULL,  -- the first 1 KiB
    payload_size  integer NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at DESC);

-- Alerts -----------------------------------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS alerts (
    alert_id        bigserial PRIMARY KEY,
    resident_id     text NOT NULL REFERENCES residents (resident_id),
    site_id         text NOT NULL REFERENCES sites (site_id),
    rule            text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'urgent', 'critical')),
    state           text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    title           text NOT NULL,
    explanation     text NOT NULL,
    evidence        jsonb NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    resolved_by     text
);
-- One live alert per resident and rule, enforced here so that racing workers cannot duplicate it.
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_live ON alerts (resident_id, rule) WHERE state <> 'resolved';
CREATE INDEX IF NOT EXISTS alerts_site_opened ON alerts (site_id, opened_at DESC);

CREATE TABLE IF NOT EXISTS alert_transitions (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (alert_id),
    at          timestamptz NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    actor       text NOT NULL,
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_transitions_alert ON alert_transitions (alert_id, at);

-- The Apache edition logs a licence error hourly from this built-in job; it has nothing to do on this edition.
UPDATE _timescaledb_config.bgw_job SET scheduled = false
 WHERE proc_name = 'policy_job_stat_history_retention' AND scheduled;
