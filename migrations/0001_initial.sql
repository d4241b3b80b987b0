-- 0001_initial: the data model of DESIGN.md ("Data model"), PostgreSQL 15.
--
-- `flowgate migrate` runs this file in one transaction together with its row in
-- schema_migrations, so it must not contain BEGIN/COMMIT. Once released, never edit it:
-- add 0002_*.sql instead.

-- A community (a ward, a housing society) owns nodes; dashboards subscribe per community.
CREATE TABLE communities (
    id   bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);

-- Every device of the water network, whatever its telemetry source.
-- Disable a node (enabled = false) to stop polling it and keep its history; deleting it
-- deletes its readings too.
CREATE TABLE nodes (
    id                 bigserial PRIMARY KEY,
    community_id       bigint   NOT NULL REFERENCES communities (id),
    name               text     NOT NULL,
    category           text     NOT NULL
        CHECK (category IN ('OHT', 'Sump', 'PumpHouse', 'Borewell', 'GovtBorewell', 'FlowMeter')),
    polling_interval_s integer  NOT NULL DEFAULT 60 CHECK (polling_interval_s > 0),
    priority           smallint NOT NULL DEFAULT 5,
    telemetry_source   text     NOT NULL CHECK (telemetry_source IN ('thingspeak', 'mqtt')),
    enabled            boolean  NOT NULL DEFAULT true,
    UNIQUE (community_id, name)
);

-- The ThingSpeak channel a node is read from. read_api_key is NULL for a public channel;
-- it is a secret and never leaves the daemon's memory in a log line.
CREATE TABLE device_thingspeak_mapping (
    device_id    bigint PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    channel_id   bigint NOT NULL CHECK (channel_id > 0),
    read_api_key text
);

-- How each field of a channel becomes a typed, calibrated metric:
-- value = raw * scale_factor + "offset", outside [min_valid, max_valid] is a conversion error.
-- expected_label is what the channel calls the field; a different label on a schema read
-- means the device was rewired or renamed, so its data is not trusted blindly.
CREATE TABLE thingspeak_field_mappings (
    device_id        bigint   NOT NULL REFERENCES device_thingspeak_mapping (device_id) ON DELETE CASCADE,
    thingspeak_field smallint NOT NULL CHECK (thingspeak_field BETWEEN 1 AND 8),
    canonical_name   text     NOT NULL CHECK (canonical_name ~ '^[a-z][a-z0-9_]*$'),
    data_type        text     NOT NULL DEFAULT 'float'
        CHECK (data_type IN ('float', 'integer', 'boolean', 'string')),
    scale_factor     double precision NOT NULL DEFAULT 1,
    "offset"         double precision NOT NULL DEFAULT 0,
    unit             text,
    min_valid        double precision,
    max_valid        double precision,
    expected_label   text,
    PRIMARY KEY (device_id, thingspeak_field),
    UNIQUE (device_id, canonical_name),
    CHECK (min_valid IS NULL OR max_valid IS NULL OR min_valid <= max_valid)
);

CREATE TABLE device_mqtt_mapping (
    device_id      bigint PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    topic          text   NOT NULL UNIQUE,
    payload_format text   NOT NULL DEFAULT 'json'
);

-- Health and resume point of each node. The cursor is written by the poller through the
-- writer, after the readings it covers; channel_epoch goes up when a channel was cleared
-- (entry ids restart at 1), which is why cursor_entry_id may go down.
CREATE TABLE node_operational_state (
    device_id            bigint  PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    status               text    NOT NULL DEFAULT 'unknown',
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_seen            timestamptz,
    last_telemetry_sync  timestamptz,
    cursor_entry_id      bigint,
    cursor_created_at    timestamptz,
    channel_epoch        integer NOT NULL DEFAULT 0
);

-- One row per metric per source entry. The primary key makes re-ingesting an entry a no-op
-- (INSERT ... ON CONFLICT DO NOTHING); ts is part of it because a cleared channel reuses
-- entry ids at later times. Exactly one of value (float, integer, boolean as 0/1) and
-- value_text (string) is set.
CREATE TABLE telemetry_readings (
    device_id  bigint      NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    metric     text        NOT NULL,
    ts         timestamptz NOT NULL,
    value      double precision,
    value_text text,
    entry_id   bigint      NOT NULL,
    source     text        NOT NULL,
    PRIMARY KEY (device_id, metric, ts, entry_id),
    CHECK (num_nonnulls(value, value_text) = 1)
);

-- Every fetch, auth, parse, conversion, schema and storage failure, for SLA tracking.
-- Kept when its node is deleted (device_id becomes NULL).
CREATE TABLE telemetry_errors (
    id          bigserial PRIMARY KEY,
    device_id   bigint REFERENCES nodes (id) ON DELETE SET NULL,
    channel_id  bigint,
    stage       text   NOT NULL
        CHECK (stage IN ('fetch', 'auth', 'parse', 'conversion', 'schema', 'storage')),
    message     text   NOT NULL,
    entry_id    bigint,
    field       text,
    raw_value   text,
    http_status integer,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX telemetry_errors_device_time_idx ON telemetry_errors (device_id, occurred_at);

-- Alerts open once and resolve on recovery. device_id is NULL for an alert that is not about
-- one device (a whole source down); NULLS NOT DISTINCT keeps those to one open alert per kind.
CREATE TABLE alerts (
    id          bigserial   PRIMARY KEY,
    device_id   bigint      REFERENCES nodes (id) ON DELETE CASCADE,
    kind        text        NOT NULL,
    severity    text        NOT NULL,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    message     text        NOT NULL DEFAULT '',
    CHECK (resolved_at IS NULL OR resolved_at >= opened_at)
);
CREATE UNIQUE INDEX alerts_one_open_per_kind_idx ON alerts (device_id, kind) NULLS NOT DISTINCT
    WHERE resolved_at IS NULL;
