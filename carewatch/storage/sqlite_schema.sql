-- The embedded SQLite schema: the same tables, columns and keys as schema.sql (TimescaleDB), with times as REAL
-- epoch seconds and JSON as TEXT. No hypertables: the embedded default serves a demo or a single small home.
PRAGMA journal_mode = WAL;

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

CREATE TABLE IF NOT EXISTS readings (
    time REAL NOT NULL, site_id TEXT NOT NULL, device_id TEXT NOT NULL, resident_id TEXT, metric TEXT NOT NULL,
    value REAL NOT NULL, seq INTEGER NOT NULL, artefact INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS readings_dedupe ON readings (device_id, metric, time);
CREATE INDEX IF NOT EXISTS readings_resident ON readings (resident_id, metric, time DESC);

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
    opened_at REAL NOT NULL, updated_at REAL NOT NULL, title TEXT NOT NULL, explanation TEXT NOT NULL,
    evidence TEXT NOT NULL, acknowledged_at REAL, acknowledged_by TEXT, resolved_at REAL, resolved_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_live ON alerts (resident_id, rule) WHERE state <> 'resolved';
CREATE INDEX IF NOT EXISTS alerts_site_opened ON alerts (site_id, opened_at DESC);

CREATE TABLE IF NOT EXISTS alert_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL REFERENCES alerts (alert_id), at REAL NOT NULL,
    from_state TEXT, to_state TEXT NOT NULL, actor TEXT NOT NULL, note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_transitions_alert ON alert_transitions (alert_id, at);
