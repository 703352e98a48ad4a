-- The embedded SQLite schema: the same tables, columns and keys as schema.sql (TimescaleDB), with times as REAL
-- epoch seconds and JSON as TEXT. No hypertables: the embedded default serves a demo or a single small home.
-- The file is switched to WAL mode by SqliteStore._use_wal, before this script runs.
CREATE TABLE IF NOT EXISTS sites (
    site_id TEXT PRIMARY KEY, name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('home', 'community_station', 'care_institution')),
    timezone TEXT NOT NULL DEFAULT 'UTC', created_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE TABLE IF NOT EXISTS residents (
    resident_id TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites (site_id), name TEXT NOT NULL, room TEXT,
    birth_year INTEGER CHECK (birth_year BETWEEN 1900 AND 2100),
    spo2_scale INTEGER NOT NULL DEFAULT 1 CHECK (spo2_scale IN (1, 2)),
    created_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE INDEX IF NOT EXISTS residents_site ON residents (site_id);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites (site_id),
    kind TEXT NOT NULL CHECK (kind IN ('wearable', 'sos_button', 'motion', 'door', 'bed', 'chair', 'bathroom',
                                       'environment', 'smoke', 'gas', 'water')),
    resident_id TEXT REFERENCES residents (resident_id), room TEXT, friendly_name TEXT UNIQUE,
    created_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE TABLE IF NOT EXISTS contacts (
    contact_id TEXT PRIMARY KEY, name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('family', 'clinician', 'operator')), email TEXT, phone TEXT
);
CREATE TABLE IF NOT EXISTS resident_contacts (
    resident_id TEXT NOT NULL REFERENCES residents (resident_id),
    contact_id TEXT NOT NULL REFERENCES contacts (contact_id),
    relation TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (resident_id, contact_id)
);
-- The registry's generation, bumped with every write to sites, residents or devices (comments in schema.sql).
CREATE TABLE IF NOT EXISTS registry_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL
);
INSERT INTO registry_generation (id, generation) VALUES (1, 0) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS readings (
    time REAL NOT NULL, site_id TEXT NOT NULL, device_id TEXT NOT NULL, resident_id TEXT, metric TEXT NOT NULL,
    value REAL NOT NULL, seq INTEGER NOT NULL, artefact INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS readings_dedupe ON readings (device_id, metric, time);
CREATE INDEX IF NOT EXISTS readings_resident ON readings (resident_id, metric, time DESC);

-- Each device's newest stored row, kept by the writer (comments in schema.sql).
CREATE TABLE IF NOT EXISTS device_seen (device_id TEXT PRIMARY KEY, last_seen REAL NOT NULL);

CREATE TABLE IF NOT EXISTS events (
    time REAL NOT NULL, site_id TEXT NOT NULL, device_id TEXT NOT NULL, resident_id TEXT, kind TEXT NOT NULL,
    value REAL NOT NULL, seq INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_dedupe ON events (device_id, kind, time);
CREATE INDEX IF NOT EXISTS events_resident ON events (resident_id, time DESC);
CREATE INDEX IF NOT EXISTS events_site ON events (site_id, time DESC);

-- Axes as little-endian float32 blobs (the arrays of the TimescaleDB table).
CREATE TABLE IF NOT EXISTS accel (
    time REAL NOT NULL, site_id TEXT NOT NULL, device_id TEXT NOT NULL, resident_id TEXT, seq INTEGER NOT NULL,
    rate_hz REAL NOT NULL CHECK (rate_hz > 0), x BLOB NOT NULL, y BLOB NOT NULL, z BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS accel_dedupe ON accel (device_id, time);

CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL,
    detail TEXT NOT NULL, payload BLOB NOT NULL, payload_size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at DESC);

CREATE TABLE IF NOT EXISTS alerts (
    alert_id INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id TEXT NOT NULL REFERENCES residents (resident_id), site_id TEXT NOT NULL REFERENCES sites (site_id),
    rule TEXT NOT NULL, severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'urgent', 'critical')),
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    opened_at REAL NOT NULL, raised_at REAL NOT NULL, updated_at REAL NOT NULL, title TEXT NOT NULL, explanation TEXT NOT NULL,
    evidence TEXT NOT NULL, acknowledged_at REAL, acknowledged_by TEXT, resolved_at REAL, resolved_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_live ON alerts (resident_id, rule) WHERE state <> 'resolved';
CREATE INDEX IF NOT EXISTS alerts_site_opened ON alerts (site_id, opened_at DESC);

CREATE TABLE IF NOT EXISTS alert_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL REFERENCES alerts (alert_id), at REAL NOT NULL,
    from_state TEXT, to_state TEXT NOT NULL, actor TEXT NOT NULL, note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_transitions_alert ON alert_transitions (alert_id, at);

-- Dashboard: users, roles, sessions (the same tables as schema.sql's section of that name).
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'clinician', 'family')),
    password_hash TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0)
);
CREATE TABLE IF NOT EXISTS user_sites (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    site_id TEXT NOT NULL REFERENCES sites (site_id), PRIMARY KEY (username, site_id)
);
CREATE TABLE IF NOT EXISTS user_residents (
    username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    resident_id TEXT NOT NULL REFERENCES residents (resident_id), PRIMARY KEY (username, resident_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, username TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_at REAL NOT NULL, expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (username);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS resident_thresholds (
    resident_id TEXT NOT NULL REFERENCES residents (resident_id), metric TEXT NOT NULL, low REAL, high REAL,
    reason TEXT NOT NULL, updated_at REAL NOT NULL, updated_by TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT 'always' CHECK (context IN ('always', 'in_bed')),
    PRIMARY KEY (resident_id, metric, context), CHECK (low IS NULL OR high IS NULL OR low < high), CHECK (reason <> '')
);
CREATE TABLE IF NOT EXISTS resident_threshold_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, resident_id TEXT NOT NULL REFERENCES residents (resident_id),
    metric TEXT NOT NULL, at REAL NOT NULL, actor TEXT NOT NULL, low REAL, high REAL, reason TEXT,
    context TEXT NOT NULL DEFAULT 'always'
);
CREATE INDEX IF NOT EXISTS resident_threshold_changes_resident ON resident_threshold_changes (resident_id, at);
CREATE TABLE IF NOT EXISTS news2_escalations (
    resident_id TEXT PRIMARY KEY REFERENCES residents (resident_id), urgent_from INTEGER NOT NULL,
    emergency_from INTEGER NOT NULL, red_score INTEGER NOT NULL, reason TEXT NOT NULL, set_by TEXT NOT NULL,
    set_at REAL NOT NULL,
    CHECK (urgent_from >= 1 AND emergency_from > urgent_from AND emergency_from <= 20 AND reason <> '')
);
CREATE TABLE IF NOT EXISTS news2_escalation_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, resident_id TEXT NOT NULL REFERENCES residents (resident_id),
    at REAL NOT NULL, actor TEXT NOT NULL, urgent_from INTEGER, emergency_from INTEGER, red_score INTEGER, reason TEXT
);
CREATE INDEX IF NOT EXISTS news2_escalation_changes_resident ON news2_escalation_changes (resident_id, at);

-- Lifecycle: escalation, routing, deliveries --------------------------------------------------------------------------
-- The same tables, columns and keys as the same section of schema.sql (comments there).
CREATE TABLE IF NOT EXISTS contact_channels (
    contact_id TEXT NOT NULL REFERENCES contacts (contact_id),
    channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook', 'mqtt')), address TEXT NOT NULL,
    PRIMARY KEY (contact_id, channel)
);
CREATE TABLE IF NOT EXISTS contact_preferences (
    contact_id TEXT PRIMARY KEY REFERENCES contacts (contact_id), timezone TEXT NOT NULL DEFAULT 'UTC',
    quiet_start INTEGER CHECK (quiet_start BETWEEN 0 AND 1439), quiet_end INTEGER CHECK (quiet_end BETWEEN 0 AND 1439)
);
CREATE TABLE IF NOT EXISTS contact_rules (
    contact_id TEXT NOT NULL REFERENCES contacts (contact_id), rule TEXT NOT NULL,
    min_severity TEXT NOT NULL CHECK (min_severity IN ('info', 'warning', 'urgent', 'critical')),
    PRIMARY KEY (contact_id, rule)
);
CREATE TABLE IF NOT EXISTS site_contacts (
    site_id TEXT NOT NULL REFERENCES sites (site_id), contact_id TEXT NOT NULL REFERENCES contacts (contact_id),
    PRIMARY KEY (site_id, contact_id)
);
CREATE TABLE IF NOT EXISTS on_call_shifts (
    site_id TEXT NOT NULL REFERENCES sites (site_id), contact_id TEXT NOT NULL REFERENCES contacts (contact_id),
    starts_at REAL NOT NULL, ends_at REAL NOT NULL CHECK (ends_at > starts_at),
    PRIMARY KEY (site_id, contact_id, starts_at)
);
CREATE INDEX IF NOT EXISTS on_call_shifts_site ON on_call_shifts (site_id, starts_at);
CREATE TABLE IF NOT EXISTS escalation_policies_set (
    site_id TEXT NOT NULL REFERENCES sites (site_id),
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'urgent', 'critical')), PRIMARY KEY (site_id, severity)
);
CREATE TABLE IF NOT EXISTS escalation_policies (
    site_id TEXT NOT NULL REFERENCES sites (site_id),
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'urgent', 'critical')),
    stage INTEGER NOT NULL CHECK (stage >= 1), after_s REAL NOT NULL CHECK (after_s >= 0),
    target TEXT NOT NULL CHECK (target IN ('operators', 'on_call', 'family', 'clinic')),
    PRIMARY KEY (site_id, severity, stage)
);
CREATE TABLE IF NOT EXISTS escalations (
    alert_id INTEGER NOT NULL REFERENCES alerts (alert_id), stage INTEGER NOT NULL, target TEXT NOT NULL,
    due_at REAL NOT NULL, fired_at REAL, cancelled_at REAL, PRIMARY KEY (alert_id, stage)
);
CREATE INDEX IF NOT EXISTS escalations_due ON escalations (due_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;
CREATE TABLE IF NOT EXISTS alert_snoozes (
    alert_id INTEGER PRIMARY KEY REFERENCES alerts (alert_id), until REAL NOT NULL, actor TEXT NOT NULL,
    at REAL NOT NULL, note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, site_id TEXT NOT NULL,
    alert_id INTEGER REFERENCES alerts (alert_id), contact_id TEXT NOT NULL, channel TEXT NOT NULL,
    address TEXT NOT NULL, kind TEXT NOT NULL, idempotency_key TEXT NOT NULL, attempt INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (
        status IN ('delivered', 'retry', 'failed', 'dead', 'suppressed', 'dropped', 'deferred', 'superseded')
    ),
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries (alert_id, at);
CREATE INDEX IF NOT EXISTS deliveries_site ON deliveries (site_id, at);
CREATE TABLE IF NOT EXISTS outbox (
    idempotency_key TEXT PRIMARY KEY, channel TEXT NOT NULL, site_id TEXT NOT NULL,
    alert_id INTEGER REFERENCES alerts (alert_id), contact_id TEXT NOT NULL, address TEXT NOT NULL, kind TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL CHECK (
        state IN ('pending', 'delivered', 'failed', 'dead', 'suppressed', 'dropped', 'superseded')
    ),
    attempt INTEGER NOT NULL, due_at REAL NOT NULL, lease_owner TEXT, lease_until REAL, created_at REAL NOT NULL,
    settled_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (channel, due_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_alert ON outbox (alert_id);

-- History: roll-ups (the same tables, columns and keys as the same section of schema.sql, comments there).
CREATE TABLE IF NOT EXISTS readings_1m (
    bucket REAL NOT NULL, resident_id TEXT NOT NULL, metric TEXT NOT NULL, samples INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, total REAL NOT NULL, total_sq REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS readings_1m_key ON readings_1m (resident_id, metric, bucket);
CREATE TABLE IF NOT EXISTS readings_1h (
    bucket REAL NOT NULL, resident_id TEXT NOT NULL, metric TEXT NOT NULL, samples INTEGER NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, total REAL NOT NULL, total_sq REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS readings_1h_key ON readings_1h (resident_id, metric, bucket);
-- The roll-up job, the restart's statistics and retention read the roll-ups by time alone (chunks on TimescaleDB).
CREATE INDEX IF NOT EXISTS readings_1m_bucket ON readings_1m (bucket);
CREATE INDEX IF NOT EXISTS readings_1h_bucket ON readings_1h (bucket);
CREATE TABLE IF NOT EXISTS rollup_watermarks (
    rollup TEXT PRIMARY KEY, done_until REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rollup_dirty (
    id INTEGER PRIMARY KEY, resident_id TEXT NOT NULL, metric TEXT NOT NULL, lo REAL NOT NULL, hi REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rollup_dirty_lo ON rollup_dirty (lo);
CREATE TABLE IF NOT EXISTS retention_horizons (table_name TEXT PRIMARY KEY, kept_from REAL NOT NULL);
-- The roll-up job, the restart's replay and activity statistics, and retention read readings, events and blocks by
-- time alone (TimescaleDB has this index on every hypertable).
CREATE INDEX IF NOT EXISTS readings_time ON readings (time);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS accel_time ON accel (time);
