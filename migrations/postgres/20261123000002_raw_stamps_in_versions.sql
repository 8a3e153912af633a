-- Raw time-stamps are stored as columns of the append-only
-- intervention_versions row of the delivery that first brought them
-- (one row per intervention instead of three: the version and its two raw
-- sides). intervention_versions already refuses every UPDATE and DELETE
-- (trigger intervention_versions_append_only), so the raw sides
-- stay append-only evidence; a correction is a later version row of the same
-- (SAAD, line id), whose raw columns are NULL.
--
-- raw_stamps keeps the sides stored before this migration (still
-- append-only, still read); nothing new is written to it.
ALTER TABLE intervention_versions ADD COLUMN raw_start TEXT;
ALTER TABLE intervention_versions ADD COLUMN raw_start_received_at TIMESTAMPTZ;
ALTER TABLE intervention_versions ADD COLUMN raw_end TEXT;
ALTER TABLE intervention_versions ADD COLUMN raw_end_received_at TIMESTAMPTZ;
CREATE TRIGGER intervention_versions_no_truncate BEFORE TRUNCATE ON intervention_versions
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
