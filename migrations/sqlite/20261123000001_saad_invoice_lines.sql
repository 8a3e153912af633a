-- A SAAD's own INVOICE matched line by line against the pro-forma (R9):
-- what it asked, what the gateway computed, what is paid, and the code
-- (INVOICE_MISMATCH when cut back, INVOICE_BELOW_COMPUTED when paid as
-- asked below the computation). Read by the rejection notice. Append-only.
CREATE TABLE saad_invoice_lines (
    invoice_id      TEXT NOT NULL REFERENCES invoices (id),
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    month           TEXT NOT NULL,
    saad_invoice_id TEXT,
    plan_ref        TEXT NOT NULL,
    beneficiary_id  TEXT,
    asked           TEXT,
    computed        TEXT NOT NULL,
    paid            TEXT NOT NULL,
    code            TEXT,
    received_at     TEXT NOT NULL,
    PRIMARY KEY (invoice_id, plan_ref)
);
CREATE INDEX saad_invoice_lines_month ON saad_invoice_lines (financer_id, saad_siret, month);
CREATE TRIGGER saad_invoice_lines_no_update BEFORE UPDATE ON saad_invoice_lines
BEGIN
    SELECT RAISE(ABORT, 'saad_invoice_lines are append-only');
END;
CREATE TRIGGER saad_invoice_lines_no_delete BEFORE DELETE ON saad_invoice_lines
BEGIN
    SELECT RAISE(ABORT, 'saad_invoice_lines are append-only');
END;
-- The close run's invoices are read back by run id (idempotent close).
CREATE INDEX invoices_close_run ON invoices (financer_id, close_run_id);
