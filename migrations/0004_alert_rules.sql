-- 0004_alert_rules: conditions on canonical metrics, evaluated on every recent reading as it
-- is ingested. A rule applies to one node (node_id), to every node of a category, or to
-- every node (neither). Its alerts are rows of alerts whose kind is the rule's name.
CREATE TABLE alert_rules (
    id         bigserial PRIMARY KEY,
    name       text     NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_]*$' AND name NOT IN
                   ('device_offline', 'device_stale', 'schema_mismatch', 'auth_failed', 'source_outage', 'rule')),
    node_id    bigint   REFERENCES nodes (id) ON DELETE CASCADE,
    category   text     CHECK (category IN ('OHT', 'Sump', 'PumpHouse', 'Borewell', 'GovtBorewell', 'FlowMeter')),
    metric     text     NOT NULL,
    -- '>', '>=', '<', '<=' compare the value with threshold; 'not_rising' expects the
    -- metric to rise by at least threshold within for_s while while_metric is on.
    comparison text     NOT NULL CHECK (comparison IN ('>', '>=', '<', '<=', 'not_rising')),
    threshold  double precision NOT NULL CHECK (threshold > '-Infinity' AND threshold < 'Infinity'),
    -- How far back past the threshold the value must go to resolve the alert.
    hysteresis double precision NOT NULL DEFAULT 0 CHECK (hysteresis >= 0 AND hysteresis < 'Infinity'),
    -- The rule holds only while this metric is true (non-zero), e.g. pump_on.
    while_metric text,
    -- How long (by the readings' times) the condition must last before the alert opens.
    for_s      integer  NOT NULL DEFAULT 0 CHECK (for_s >= 0),
    severity   text     NOT NULL DEFAULT 'warning' CHECK (severity IN ('warning', 'critical')),
    enabled    boolean  NOT NULL DEFAULT true,
    CHECK (node_id IS NULL OR category IS NULL),
    CHECK (comparison <> 'not_rising' OR (while_metric IS NOT NULL AND for_s > 0 AND threshold > 0))
);

-- Running daemons reload the rules when they change (an empty payload: reload everything).
CREATE FUNCTION flowgate_alert_rules_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flowgate_registry', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER alert_rules_notify AFTER INSERT OR UPDATE OR DELETE ON alert_rules
    FOR EACH STATEMENT EXECUTE FUNCTION flowgate_alert_rules_changed();
