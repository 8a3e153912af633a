-- The receipt of a large delivery, ingested as it is read (an ESPPADOM
-- file of tens of thousands of interventions), is never held whole in
-- memory: its lines are stored in parts, one per chunk of the delivery,
-- as they are judged, in the delivery's transaction. `receipts.parts` is
-- the number of parts (0: `receipt_json` is the whole receipt, as before);
-- with parts, `receipt_json` is the receipt up to its `"lines":[`, and the
-- whole receipt is that prefix, the parts joined by commas, then `]}`.
ALTER TABLE receipts ADD COLUMN parts INTEGER NOT NULL DEFAULT 0;

CREATE TABLE receipt_parts (
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    transmission_id TEXT NOT NULL,
    part_no         INTEGER NOT NULL,
    lines_json      TEXT NOT NULL,
    PRIMARY KEY (financer_id, saad_siret, transmission_id, part_no)
);
CREATE TRIGGER receipt_parts_no_update BEFORE UPDATE ON receipt_parts
BEGIN
    SELECT RAISE(ABORT, 'receipt_parts are append-only');
END;
CREATE TRIGGER receipt_parts_no_delete BEFORE DELETE ON receipt_parts
BEGIN
    SELECT RAISE(ABORT, 'receipt_parts are append-only');
END;
