-- The demo water network of config/sim-demo.toml as flowgate devices: one community,
-- "Jayanagar Ward 7", and its 8 nodes, one per simulator channel (2100101..2100108).
--
-- Load it into a migrated database, as one transaction:
--   psql "$FLOWGATE_DATABASE_URL" -v ON_ERROR_STOP=1 -1 -f config/demo-devices.sql
-- Running it again puts the demo rows back to these values and keeps everything else
-- (readings, cursors, errors). Ids are fixed (community 1, nodes 1..8) so tests can name them.
--
-- expected_label is exactly the simulator's field label; polling_interval_s is the channel's
-- posting interval. The read keys are the simulator's demo keys, not real secrets.

INSERT INTO communities (id, name) VALUES (1, 'Jayanagar Ward 7')
ON CONFLICT (id) DO UPDATE SET name = excluded.name;

INSERT INTO nodes (id, community_id, name, category, polling_interval_s, priority, telemetry_source, enabled)
VALUES
    (1, 1, 'OHT-1 Jayanagar Ward 7',       'OHT',          15,  5, 'thingspeak', true),
    (2, 1, 'OHT-2 Jayanagar Ward 7',       'OHT',          20,  5, 'thingspeak', true),
    (3, 1, 'Sump-1 Ward 7',                'Sump',         30,  5, 'thingspeak', true),
    (4, 1, 'Sump-2 Ward 7',                'Sump',         60,  5, 'thingspeak', true),
    (5, 1, 'Pump House Ward 7',            'PumpHouse',    15,  5, 'thingspeak', true),
    (6, 1, 'Borewell BW-3 (private)',      'Borewell',     60,  5, 'thingspeak', true),
    (7, 1, 'Govt Borewell GBW-1',          'GovtBorewell', 120, 5, 'thingspeak', true),
    (8, 1, 'Flow Meter FM-1 Ward 7 inlet', 'FlowMeter',    30,  5, 'thingspeak', true)
ON CONFLICT (id) DO UPDATE SET
    community_id = excluded.community_id,
    name = excluded.name,
    category = excluded.category,
    polling_interval_s = excluded.polling_interval_s,
    priority = excluded.priority,
    telemetry_source = excluded.telemetry_source,
    enabled = excluded.enabled;

INSERT INTO device_thingspeak_mapping (device_id, channel_id, read_api_key)
VALUES
    (1, 2100101, NULL),
    (2, 2100102, 'DEMOREADKEYOHT02'),
    (3, 2100103, NULL),
    (4, 2100104, 'DEMOREADKEYSMP02'),
    (5, 2100105, NULL),
    (6, 2100106, NULL),
    (7, 2100107, 'DEMOREADKEYGBW01'),
    (8, 2100108, NULL)
ON CONFLICT (device_id) DO UPDATE SET
    channel_id = excluded.channel_id,
    read_api_key = excluded.read_api_key;

-- Calibrations: OHT-1's ultrasonic sensor reports cm, stored in metres (x 0.01); Sump-1's
-- sensor sits 5 cm above the sump floor (+5 cm); FM-1's totaliser counts litres, stored in
-- cubic metres (x 0.001). Everything else is stored as the device reports it.
INSERT INTO thingspeak_field_mappings
    (device_id, thingspeak_field, canonical_name, data_type, scale_factor, "offset", unit,
     min_valid, max_valid, expected_label)
VALUES
    -- OHT-1: 50 kL overhead tank, about 3.2 m deep
    (1, 1, 'water_level',       'float',   0.01,  0, 'm',     0,    3.5,  'Water Level (cm)'),
    (1, 2, 'water_temperature', 'float',   1,     0, '°C',    0,    60,   'Water Temperature (C)'),
    (1, 3, 'tds',               'integer', 1,     0, 'ppm',   0,    2000, 'TDS (ppm)'),
    -- OHT-2: level already in percent
    (2, 1, 'water_level',       'float',   1,     0, '%',     0,    100,  'Water Level (%)'),
    (2, 2, 'water_temperature', 'float',   1,     0, '°C',    0,    60,   'Water Temperature (C)'),
    -- Sump-1
    (3, 1, 'water_level',       'float',   1,     5, 'cm',    0,    300,  'Sump Level (cm)'),
    -- Sump-2: old GSM node
    (4, 1, 'water_level',       'float',   1,     0, 'cm',    0,    250,  'Sump Level (cm)'),
    (4, 2, 'tds',               'integer', 1,     0, 'ppm',   0,    2000, 'TDS (ppm)'),
    -- Pump house
    (5, 1, 'pump_on',           'boolean', 1,     0, NULL,    NULL, NULL, 'Pump Status'),
    (5, 2, 'flow_rate',         'float',   1,     0, 'L/min', 0,    1000, 'Flow Rate (L/min)'),
    (5, 3, 'motor_temperature', 'float',   1,     0, '°C',    0,    120,  'Motor Temperature (C)'),
    (5, 4, 'panel_mode',        'string',  1,     0, NULL,    NULL, NULL, 'Panel Mode'),
    -- BW-3: depth to water below ground
    (6, 1, 'water_depth',       'float',   1,     0, 'm',     0,    300,  'Water Depth (m)'),
    (6, 2, 'pump_on',           'boolean', 1,     0, NULL,    NULL, NULL, 'Pump Status'),
    -- GBW-1: field 2 is not used by this channel
    (7, 1, 'water_depth',       'float',   1,     0, 'm',     0,    300,  'Water Depth (m)'),
    (7, 3, 'tds',               'integer', 1,     0, 'ppm',   0,    2000, 'TDS (ppm)'),
    -- FM-1: ward inlet main
    (8, 1, 'flow_rate',         'float',   1,     0, 'L/min', 0,    1500, 'Flow Rate (L/min)'),
    (8, 2, 'total_volume',      'float',   0.001, 0, 'm³',    0,    NULL, 'Total Volume (L)')
ON CONFLICT (device_id, thingspeak_field) DO UPDATE SET
    canonical_name = excluded.canonical_name,
    data_type = excluded.data_type,
    scale_factor = excluded.scale_factor,
    "offset" = excluded."offset",
    unit = excluded.unit,
    min_valid = excluded.min_valid,
    max_valid = excluded.max_valid,
    expected_label = excluded.expected_label;

-- The ids above were given explicitly, so move the sequences past them: nodes added later
-- with default ids must not collide with the demo's.
SELECT setval(pg_get_serial_sequence('communities', 'id'), (SELECT max(id) FROM communities));
SELECT setval(pg_get_serial_sequence('nodes', 'id'), (SELECT max(id) FROM nodes));
