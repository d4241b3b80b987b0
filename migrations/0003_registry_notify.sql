-- 0003_registry_notify: every change to the registry is announced on channel
-- flowgate_registry, with the id of the node it is about ('' for a community), so that
-- running daemons reload what changed without a restart. NOTIFY is sent at commit, once
-- per distinct payload of a transaction.
CREATE FUNCTION flowgate_registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_data record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        row_data := OLD;
    ELSE
        row_data := NEW;
    END IF;
    IF TG_TABLE_NAME = 'communities' THEN
        PERFORM pg_notify('flowgate_registry', '');
    ELSIF TG_TABLE_NAME = 'nodes' THEN
        PERFORM pg_notify('flowgate_registry', row_data.id::text);
        -- A node moved to another community, or renumbered: the old id changed too.
        IF TG_OP = 'UPDATE' AND OLD.id <> NEW.id THEN
            PERFORM pg_notify('flowgate_registry', OLD.id::text);
        END IF;
    ELSE
        PERFORM pg_notify('flowgate_registry', row_data.device_id::text);
        IF TG_OP = 'UPDATE' AND OLD.device_id <> NEW.device_id THEN
            PERFORM pg_notify('flowgate_registry', OLD.device_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER communities_notify AFTER INSERT OR UPDATE OR DELETE ON communities
    FOR EACH ROW EXECUTE FUNCTION flowgate_registry_changed();
CREATE TRIGGER nodes_notify AFTER INSERT OR UPDATE OR DELETE ON nodes
    FOR EACH ROW EXECUTE FUNCTION flowgate_registry_changed();
CREATE TRIGGER device_thingspeak_mapping_notify AFTER INSERT OR UPDATE OR DELETE ON device_thingspeak_mapping
    FOR EACH ROW EXECUTE FUNCTION flowgate_registry_changed();
CREATE TRIGGER thingspeak_field_mappings_notify AFTER INSERT OR UPDATE OR DELETE ON thingspeak_field_mappings
    FOR EACH ROW EXECUTE FUNCTION flowgate_registry_changed();
