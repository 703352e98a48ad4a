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

-- The registry's generation: one row, its counter bumped in the transaction of every write to sites, residents or
-- devices (the store's upserts), so that it changes exactly when the registry's committed rows do. A running platform
-- reads it every second and rereads the whole registry only when it changed (carewatch/runtime.py).
CREATE TABLE IF NOT EXISTS registry_generation (
    id          smallint PRIMARY KEY CHECK (id = 1),
    generation  bigint NOT NULL
);
INSERT INTO registry_generation (id, generation) VALUES (1, 0) ON CONFLICT DO NOTHING;

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

-- Each device's newest stored row (readings, events or accelerometer blocks, artefacts included), kept by the writer
-- in the batch's own transaction: the restart asks it which devices went silent (the offline rule) instead of
-- scanning a day of rows.
CREATE TABLE IF NOT EXISTS device_seen (
    device_id   text PRIMARY KEY,
    last_seen   timestamptz NOT NULL
);

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
    opened_at       timestamptz NOT NULL,  -- the condition's (data) time
    raised_at       timestamptz NOT NULL,  -- when carewatch raised it (wall clock); its index: ADDED_INDEXES
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

-- Dashboard: users, roles, sessions ---------------------------------------------------------------------------------
-- Who may log in to the dashboard and what they may see (docs/architecture.md, "Users and roles").

CREATE TABLE IF NOT EXISTS users (
    username      text PRIMARY KEY,
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'clinician', 'family')),
    password_hash text NOT NULL,  -- argon2id, PHC string
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Operators and clinicians work for sites; family members are linked to residents.
CREATE TABLE IF NOT EXISTS user_sites (
    username text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    site_id  text NOT NULL REFERENCES sites (site_id),
    PRIMARY KEY (username, site_id)
);
CREATE TABLE IF NOT EXISTS user_residents (
    username    text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    resident_id text NOT NULL REFERENCES residents (resident_id),
    PRIMARY KEY (username, resident_id)
);

-- Login sessions: the SHA-256 of an opaque random token (the token itself is only ever in the browser's cookie).
CREATE TABLE IF NOT EXISTS sessions (
    token_hash text PRIMARY KEY,
    username   text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (username);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);

-- Per-resident limits a clinician sets (NULL = the rule's default on that side), with the reason for them, and their
-- audit trail (every set and removal, per metric and context; limits and reason NULL on a removal). The context says
-- when a limit applies: always, or only while the resident is in bed (carewatch.storage.base.ThresholdContext).
CREATE TABLE IF NOT EXISTS resident_thresholds (
    resident_id text NOT NULL REFERENCES residents (resident_id),
    metric      text NOT NULL,
    low         double precision,
    high        double precision,
    reason      text NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  text NOT NULL,
    context     text NOT NULL DEFAULT 'always' CHECK (context IN ('always', 'in_bed')),
    PRIMARY KEY (resident_id, metric, context),
    CHECK (low IS NULL OR high IS NULL OR low < high),
    CHECK (reason <> '')
);
CREATE TABLE IF NOT EXISTS resident_threshold_changes (
    id           bigserial PRIMARY KEY,
    resident_id  text NOT NULL REFERENCES residents (resident_id),
    metric       text NOT NULL,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    low          double precision,
    high         double precision,
    reason       text,
    context      text NOT NULL DEFAULT 'always'
);
CREATE INDEX IF NOT EXISTS resident_threshold_changes_resident ON resident_threshold_changes (resident_id, at);

-- A clinician's documented NEWS2 escalation for one resident (no row: the RCP defaults, urgent from 5, emergency
-- from 7, a single 3 alerts), and its audit trail (every set and removal; escalation columns NULL on a removal).
CREATE TABLE IF NOT EXISTS news2_escalations (
    resident_id     text PRIMARY KEY REFERENCES residents (resident_id),
    urgent_from     smallint NOT NULL,
    emergency_from  smallint NOT NULL,
    red_score       boolean NOT NULL,
    reason          text NOT NULL,
    set_by          text NOT NULL,
    set_at          timestamptz NOT NULL,
    CHECK (urgent_from >= 1 AND emergency_from > urgent_from AND emergency_from <= 20 AND reason <> '')
);
CREATE TABLE IF NOT EXISTS news2_escalation_changes (
    id              bigserial PRIMARY KEY,
    resident_id     text NOT NULL REFERENCES residents (resident_id),
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    urgent_from     smallint,
    emergency_from  smallint,
    red_score       boolean,
    reason          text
);
CREATE INDEX IF NOT EXISTS news2_escalation_changes_resident ON news2_escalation_changes (resident_id, at);

-- Lifecycle: escalation, routing, deliveries --------------------------------------------------------------------------
-- Owned by alerts/lifecycle.py, alerts/escalation.py, alerts/routing.py and alerts/notify/. Kept in step with the
-- same section of carewatch/storage/sqlite_schema.sql (same tables, columns and keys).

-- Where a contact can be reached: channel -> address (an e-mail address, a webhook URL, an MQTT topic).
CREATE TABLE IF NOT EXISTS contact_channels (
    contact_id  text NOT NULL REFERENCES contacts (contact_id),
    channel     text NOT NULL CHECK (channel IN ('email', 'webhook', 'mqtt')),
    address     text NOT NULL,
    PRIMARY KEY (contact_id, channel)
);

-- A contact's local time zone and quiet hours (minutes after local midnight; start > end wraps past midnight).
CREATE TABLE IF NOT EXISTS contact_preferences (
    contact_id  text PRIMARY KEY REFERENCES contacts (contact_id),
    timezone    text NOT NULL DEFAULT 'UTC',
    quiet_start smallint CHECK (quiet_start BETWEEN 0 AND 1439),
    quiet_end   smallint CHECK (quiet_end BETWEEN 0 AND 1439)
);

-- Which rules reach a family contact, from which severity up ('*' = any rule). No rows: urgent and critical alerts.
CREATE TABLE IF NOT EXISTS contact_rules (
    contact_id   text NOT NULL REFERENCES contacts (contact_id),
    rule         text NOT NULL,
    min_severity text NOT NULL CHECK (min_severity IN ('info', 'warning', 'urgent', 'critical')),
    PRIMARY KEY (contact_id, rule)
);

-- The operators and the clinic of a site (residents' own contacts are in resident_contacts).
CREATE TABLE IF NOT EXISTS site_contacts (
    site_id     text NOT NULL REFERENCES sites (site_id),
    contact_id  text NOT NULL REFERENCES contacts (contact_id),
    PRIMARY KEY (site_id, contact_id)
);

-- The on-call rota: who answers for a site's clinical escalations in [starts_at, ends_at).
CREATE TABLE IF NOT EXISTS on_call_shifts (
    site_id     text NOT NULL REFERENCES sites (site_id),
    contact_id  text NOT NULL REFERENCES contacts (contact_id),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    PRIMARY KEY (site_id, contact_id, starts_at)
);
CREATE INDEX IF NOT EXISTS on_call_shifts_site ON on_call_shifts (site_id, starts_at);

-- The site's policies set per severity, steps or none: a policy without steps never escalates (a pair in neither table
-- has no policy of its own: the defaults apply). Databases from before it hold steps only (escalation_policy reads
-- either as set).
CREATE TABLE IF NOT EXISTS escalation_policies_set (
    site_id     text NOT NULL REFERENCES sites (site_id),
    severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'urgent', 'critical')),
    PRIMARY KEY (site_id, severity)
);

-- Escalation policies per site and severity: stage n goes to target after_s seconds after the alert opened.
CREATE TABLE IF NOT EXISTS escalation_policies (
    site_id     text NOT NULL REFERENCES sites (site_id),
    severity    text NOT NULL CHECK (severity IN ('info', 'warning', 'urgent', 'critical')),
    stage       smallint NOT NULL CHECK (stage >= 1),
    after_s     double precision NOT NULL CHECK (after_s >= 0),
    target      text NOT NULL CHECK (target IN ('operators', 'on_call', 'family', 'clinic')),
    PRIMARY KEY (site_id, severity, stage)
);

-- The planned stages of each alert's escalation. A stage fires once: it is claimed with a conditional UPDATE
-- (fired_at IS NULL); acknowledging or resolving the alert cancels the pending stages in the same transaction.
CREATE TABLE IF NOT EXISTS escalations (
    alert_id     bigint NOT NULL REFERENCES alerts (alert_id),
    stage        smallint NOT NULL,
    target       text NOT NULL,
    due_at       timestamptz NOT NULL,
    fired_at     timestamptz,
    cancelled_at timestamptz,
    PRIMARY KEY (alert_id, stage)
);
CREATE INDEX IF NOT EXISTS escalations_due ON escalations (due_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;

-- A snoozed alert keeps its state; its escalation waits until the snooze ends.
CREATE TABLE IF NOT EXISTS alert_snoozes (
    alert_id    bigint PRIMARY KEY REFERENCES alerts (alert_id),
    until       timestamptz NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL,
    note        text NOT NULL DEFAULT ''
);

-- Every delivery attempt on every channel (and every delivery held back by quiet hours or a full queue, deferred to
-- the end of quiet hours, or withdrawn before it went).
CREATE TABLE IF NOT EXISTS deliveries (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL,
    site_id         text NOT NULL,
    alert_id        bigint REFERENCES alerts (alert_id),
    contact_id      text NOT NULL,
    channel         text NOT NULL,
    address         text NOT NULL,
    kind            text NOT NULL,
    idempotency_key text NOT NULL,
    attempt         smallint NOT NULL,
    status          text NOT NULL CHECK (status IN ('delivered', 'retry', 'failed', 'dead', 'suppressed', 'dropped',
                                                'deferred', 'superseded')),
    error           text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries (alert_id, at);
CREATE INDEX IF NOT EXISTS deliveries_site ON deliveries (site_id, at);

-- The durable outbox (alerts/notify/dispatch.py): every message routing submits is written here first, in the
-- transaction that claims its escalation stage where there is one; each channel's lane works from it. One row per
-- idempotency key (submitting a key again is a no-op); a message stays "pending" (attempt = the next attempt's number,
-- due_at = when it may go) until it settles with the status of its last attempt, in the transaction that writes that
-- attempt's row in deliveries. A dispatcher leases the row it is sending (lease_owner, lease_until), so of several
-- workers one sends it; a crashed worker's lease runs out and another takes the message over. One alert's messages
-- to one target (contact, channel, address) go in the order they were written (created_at): a later one is not
-- claimed while an earlier one is pending. An alert's end deferred to the end of quiet hours is pending with that due
-- time; withdrawn when the alert reopens, it settles "superseded". A plain table, not a hypertable: a small queue
-- updated by key; settled rows are kept (they hold the keys) and purged with the alert.
CREATE TABLE IF NOT EXISTS outbox (
    idempotency_key text PRIMARY KEY,
    channel         text NOT NULL,
    site_id         text NOT NULL,
    alert_id        bigint REFERENCES alerts (alert_id),  -- NULL for a digest
    contact_id      text NOT NULL,
    address         text NOT NULL,
    kind            text NOT NULL,
    message         jsonb NOT NULL,  -- the whole serialised Message: subject, text, payload, content type ...
    state           text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'dead', 'suppressed', 'dropped',
                                              'superseded')),
    attempt         smallint NOT NULL,  -- pending: the number of the next attempt; settled: of the last one
    due_at          timestamptz NOT NULL,
    lease_owner     text,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL,
    settled_at      timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (channel, due_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_alert ON outbox (alert_id);

-- History: roll-ups ---------------------------------------------------------------------------------------------------
-- Owned by carewatch/storage/rollups.py (kept in step with the same section of carewatch/storage/sqlite_schema.sql).
-- Per-resident, per-metric aggregates of non-artefact readings, kept up to date incrementally by a scheduled job
-- (the Apache edition has no continuous aggregates). Sums, not means, so hours are exact sums of minutes and the
-- baselines get count, sum and sum of squares. A bucket is recomputed whole on every pass over it: idempotent.
-- 1-minute roll-up: 1-day chunks (10,000 residents x 5 metrics x 1,440 minutes = 72M rows, ~6 GB with the index: the
-- newest chunk stays within a quarter of memory); kept months, so retention drops whole days.
CREATE TABLE IF NOT EXISTS readings_1m (
    bucket      timestamptz NOT NULL,  -- bucket start, epoch-aligned
    resident_id text NOT NULL,
    metric      text NOT NULL,
    samples     integer NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    total       double precision NOT NULL,  -- sum of the values
    total_sq    double precision NOT NULL   -- sum of their squares
);
SELECT create_hypertable('readings_1m', by_range('bucket', INTERVAL '1 day'), create_default_indexes => FALSE,
                         if_not_exists => TRUE);  -- the unique index below is the only one needed
CREATE UNIQUE INDEX IF NOT EXISTS readings_1m_key ON readings_1m (resident_id, metric, bucket);

-- 1-hour roll-up, computed from the 1-minute one: 60 times fewer rows, kept years; 30-day chunks (10,000 residents
-- x 5 metrics x 720 hours = 36M rows) so a 30-day chart touches one or two chunks.
CREATE TABLE IF NOT EXISTS readings_1h (
    bucket      timestamptz NOT NULL,
    resident_id text NOT NULL,
    metric      text NOT NULL,
    samples     integer NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    total       double precision NOT NULL,
    total_sq    double precision NOT NULL
);
SELECT create_hypertable('readings_1h', by_range('bucket', INTERVAL '30 days'), create_default_indexes => FALSE,
                         if_not_exists => TRUE);
CREATE UNIQUE INDEX IF NOT EXISTS readings_1h_key ON readings_1h (resident_id, metric, bucket);

-- How far each roll-up is complete: every bucket before done_until is aggregated (up to the late margin; readings
-- stored later still are marked in rollup_dirty).
CREATE TABLE IF NOT EXISTS rollup_watermarks (
    rollup      text PRIMARY KEY,
    done_until  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Late readings: rows stored behind the minute roll-up's watermark (a gateway's backlog, up to a week old) leave a
-- mark here in their batch's transaction: the minutes [lo, hi) of one resident's metric to recompute. The roll-up job
-- re-aggregates them (minutes from the raw readings, then their hours) and deletes the marks it did; retention keeps
-- the raw readings from the oldest mark on. Empty but for backlogs.
CREATE TABLE IF NOT EXISTS rollup_dirty (
    id          bigserial PRIMARY KEY,
    resident_id text NOT NULL,
    metric      text NOT NULL,
    lo          timestamptz NOT NULL,
    hi          timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rollup_dirty_lo ON rollup_dirty (lo);

-- Where retention last cut readings and readings_1m: rows before kept_from may be gone. History reads the minute
-- roll-up there instead of raw readings, and re-aggregation does not recompute what it no longer has the rows for.
CREATE TABLE IF NOT EXISTS retention_horizons (
    table_name  text PRIMARY KEY,
    kept_from   timestamptz NOT NULL
);
