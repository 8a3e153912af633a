-- Month close: the traceability rows' references checked once per
-- statement instead of once per row (issue #9).
--
-- A 300 000-intervention close writes 300 000 `invoice_line_interventions`
-- rows. Their two foreign keys were checked by PostgreSQL one row at a
-- time: for each row and key an index probe and a row lock (`FOR KEY
-- SHARE`) on the referenced row, which writes to its page: about two thirds
-- of the close's time. The same two rules are now checked by one
-- statement-level trigger over all the rows a statement inserted (or
-- updated), with two anti-joins: a row naming an intervention version or an
-- invoice line that does not exist is refused with the foreign key's
-- SQLSTATE (23503), and the whole statement, hence the close's
-- transaction, fails as before.
--
-- What the row locks also guarded, the referenced rows never going away
-- under a reference, is kept: intervention versions are append-only (their
-- triggers refuse UPDATE and DELETE), and a trigger on `invoice_lines`
-- refuses to delete a line, or change its key, while traceability rows name
-- it (SQLSTATE 23503 too). SQLite keeps its foreign keys: it checks them
-- with a plain index probe, no lock.
ALTER TABLE invoice_line_interventions
    DROP CONSTRAINT invoice_line_interventions_version_id_fkey;
ALTER TABLE invoice_line_interventions
    DROP CONSTRAINT invoice_line_interventions_invoice_id_line_no_fkey;

CREATE FUNCTION invoice_line_interventions_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    orphan RECORD;
BEGIN
    -- One index probe per row (version ids are distinct in a close)...
    SELECT n.invoice_id, n.line_no, n.version_id INTO orphan
    FROM written n
    WHERE NOT EXISTS (SELECT 1 FROM intervention_versions v WHERE v.id = n.version_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invoice_line_interventions (%, %, %): no intervention version %',
            orphan.invoice_id, orphan.line_no, orphan.version_id, orphan.version_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- ... and one per invoice line named (30 rows per line in a close).
    SELECT n.invoice_id, n.line_no INTO orphan
    FROM (SELECT DISTINCT invoice_id, line_no FROM written) n
    WHERE NOT EXISTS (SELECT 1 FROM invoice_lines l
                      WHERE l.invoice_id = n.invoice_id AND l.line_no = n.line_no)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invoice_line_interventions (%, %): no such invoice line',
            orphan.invoice_id, orphan.line_no
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER invoice_line_interventions_references_on_insert
    AFTER INSERT ON invoice_line_interventions
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_line_interventions_check_references();
CREATE TRIGGER invoice_line_interventions_references_on_update
    AFTER UPDATE ON invoice_line_interventions
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_line_interventions_check_references();

CREATE FUNCTION invoice_lines_keep_traced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.invoice_id = OLD.invoice_id AND NEW.line_no = OLD.line_no THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM invoice_line_interventions t
               WHERE t.invoice_id = OLD.invoice_id AND t.line_no = OLD.line_no) THEN
        RAISE EXCEPTION 'invoice line (%, %) is still named by invoice_line_interventions',
            OLD.invoice_id, OLD.line_no
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER invoice_lines_keep_traced
    BEFORE UPDATE OF invoice_id, line_no OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_keep_traced();
