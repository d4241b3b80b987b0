-- 0002_device_health: a node's own times for DeviceHealth. NULL: derived from its polling
-- interval (stale after 3 intervals with nothing new, offline after 10).
ALTER TABLE nodes
    ADD COLUMN stale_after_s   integer CHECK (stale_after_s > 0),
    ADD COLUMN offline_after_s integer CHECK (offline_after_s > 0);

-- node_operational_state.status is one of DeviceHealth's states.
ALTER TABLE node_operational_state
    ADD CONSTRAINT node_operational_state_status_check CHECK (status IN ('unknown', 'online', 'stale', 'offline'));
