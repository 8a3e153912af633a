-- saad-gateway schema, SQLite dialect. Same meaning as migrations/postgres.
-- Conventions: instants are TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC, fixed
-- width, so text order = time order), bound from Rust; dates TEXT
-- 'YYYY-MM-DD'; months TEXT 'YYYY-MM'; money and rates TEXT canonical
-- decimals (never REAL); booleans INTEGER 0/1.

CREATE TABLE saads (
    financer_id     TEXT NOT NULL,
    siret           TEXT NOT NULL,
    name            TEXT NOT NULL,
    iban            TEXT NOT NULL,
    bic             TEXT NOT NULL,
    declarative     INTEGER NOT NULL,
    finess          TEXT,
    legal_category  TEXT,
    account_holder  TEXT,
    address_line1   TEXT,
    address_postcode TEXT,
    address_city    TEXT,
    address_country TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (financer_id, siret)
);

CREATE TABLE saad_aid_types (
    financer_id TEXT NOT NULL,
    siret       TEXT NOT NULL,
    aid_type    TEXT NOT NULL CHECK (aid_type IN ('APA', 'PCH', 'AM')),
    status      TEXT NOT NULL CHECK (status IN ('habilite', 'autorise')),
    PRIMARY KEY (financer_id, siret, aid_type),
    FOREIGN KEY (financer_id, siret) REFERENCES saads (financer_id, siret)
);

CREATE TABLE saad_tariffs (
    financer_id TEXT NOT NULL,
    siret       TEXT NOT NULL,
    aid_type    TEXT NOT NULL,
    valid_from  TEXT NOT NULL,
    valid_to    TEXT,
    hourly_rate TEXT NOT NULL,
    PRIMARY KEY (financer_id, siret, aid_type, valid_from),
    FOREIGN KEY (financer_id, siret, aid_type) REFERENCES saad_aid_types (financer_id, siret, aid_type)
);

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    financer_id TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('financer', 'saad')),
    saad_siret  TEXT,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    CHECK ((role = 'saad') = (saad_siret IS NOT NULL))
);

CREATE TABLE plan_versions (
    financer_id        TEXT NOT NULL,
    plan_ref           TEXT NOT NULL,
    version            INTEGER NOT NULL CHECK (version >= 0),
    beneficiary_id     TEXT NOT NULL,
    saad_siret         TEXT NOT NULL,
    aid_type           TEXT NOT NULL CHECK (aid_type IN ('APA', 'PCH', 'AM')),
    gir                INTEGER,
    household          TEXT,
    valid_from         TEXT NOT NULL,
    valid_to           TEXT NOT NULL,
    monthly_minutes    INTEGER NOT NULL,
    hourly_rate        TEXT NOT NULL,
    participation_rate TEXT,
    coverage_rate      TEXT,
    monthly_amount     TEXT NOT NULL,
    respite_exemption  INTEGER NOT NULL,
    household_ref      TEXT,
    created_at         TEXT NOT NULL,
    PRIMARY KEY (financer_id, plan_ref, version)
);
CREATE INDEX plan_versions_saad ON plan_versions (financer_id, saad_siret, valid_from);
CREATE INDEX plan_versions_beneficiary ON plan_versions (financer_id, beneficiary_id);
CREATE INDEX plan_versions_period ON plan_versions (financer_id, valid_from, valid_to);
CREATE INDEX plan_versions_household ON plan_versions (financer_id, household_ref) WHERE household_ref IS NOT NULL;

CREATE TABLE events (
    financer_id    TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    kind           TEXT NOT NULL,
    start_date     TEXT NOT NULL,
    end_date       TEXT,
    note           TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (financer_id, beneficiary_id, kind, start_date)
);
CREATE INDEX events_updated ON events (financer_id, updated_at);

CREATE TABLE overrun_authorisations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    financer_id TEXT NOT NULL,
    plan_ref   TEXT NOT NULL,
    month      TEXT NOT NULL,
    minutes    INTEGER NOT NULL CHECK (minutes >= 0),
    created_at TEXT NOT NULL
);
CREATE INDEX overrun_authorisations_plan_month ON overrun_authorisations (financer_id, plan_ref, month);

CREATE TABLE beneficiary_aliases (
    financer_id    TEXT NOT NULL,
    saad_siret     TEXT NOT NULL,
    plan_ref       TEXT NOT NULL,
    alias_id       TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (financer_id, saad_siret, plan_ref, alias_id)
);
CREATE INDEX beneficiary_aliases_alias ON beneficiary_aliases (financer_id, saad_siret, alias_id);

-- One row per stored DELIVERY: the idempotency key and the first receipt.
CREATE TABLE receipts (
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    transmission_id TEXT NOT NULL,
    body_hash       TEXT NOT NULL,
    receipt_json    TEXT NOT NULL,
    line_count      INTEGER NOT NULL,
    received_at     TEXT NOT NULL,
    PRIMARY KEY (financer_id, saad_siret, transmission_id)
);

-- Raw (certified) stamps: evidence, append-only (R2).
CREATE TABLE raw_stamps (
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    line_id         TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('start', 'end')),
    stamp           TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    transmission_id TEXT NOT NULL,
    PRIMARY KEY (financer_id, saad_siret, line_id, side)
) WITHOUT ROWID;
CREATE TRIGGER raw_stamps_no_update BEFORE UPDATE ON raw_stamps
BEGIN
    SELECT RAISE(ABORT, 'raw_stamps are append-only: raw time-stamps are evidence and cannot be updated');
END;
CREATE TRIGGER raw_stamps_no_delete BEFORE DELETE ON raw_stamps
BEGIN
    SELECT RAISE(ABORT, 'raw_stamps are append-only: raw time-stamps are evidence and cannot be deleted');
END;

-- Every judged line of every delivery (history; append-only as well).
CREATE TABLE intervention_versions (
    id                INTEGER PRIMARY KEY,
    financer_id       TEXT NOT NULL,
    saad_siret        TEXT NOT NULL,
    line_id           TEXT NOT NULL,
    transmission_id   TEXT NOT NULL,
    line_no           INTEGER NOT NULL,
    action            TEXT NOT NULL CHECK (action IN ('count', 'stamps_only', 'withdraw')),
    status            TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reasons           TEXT NOT NULL,
    warnings          TEXT NOT NULL,
    plan_ref          TEXT,
    beneficiary_id    TEXT,
    worker_id         TEXT,
    counted_start     TEXT,
    counted_end       TEXT,
    counted_minutes   INTEGER NOT NULL,
    rounded_minutes   INTEGER NOT NULL,
    corrected         INTEGER NOT NULL,
    declarative       INTEGER NOT NULL,
    correction_reason TEXT,
    corrected_start   TEXT,
    corrected_end     TEXT,
    timesheet_ref     TEXT,
    raw_received_at   TEXT,
    sequence          INTEGER,
    month             TEXT NOT NULL,
    fingerprint       TEXT,
    received_at       TEXT NOT NULL
);
CREATE INDEX intervention_versions_saad_month ON intervention_versions (financer_id, saad_siret, month);
CREATE INDEX intervention_versions_line ON intervention_versions (financer_id, saad_siret, line_id);
CREATE INDEX intervention_versions_sequence ON intervention_versions (financer_id, sequence);
CREATE TRIGGER intervention_versions_no_update BEFORE UPDATE ON intervention_versions
BEGIN
    SELECT RAISE(ABORT, 'intervention_versions are append-only');
END;
CREATE TRIGGER intervention_versions_no_delete BEFORE DELETE ON intervention_versions
BEGIN
    SELECT RAISE(ABORT, 'intervention_versions are append-only');
END;

-- Pointer to the currently accepted version of each (SAAD, line id), with
-- the fields the overlap checks and the month close read (denormalised so
-- that both are single index range scans). Not evidence: replaced on each
-- newly accepted version, deleted on withdrawal.
CREATE TABLE current_interventions (
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    line_id         TEXT NOT NULL,
    version_id      INTEGER NOT NULL REFERENCES intervention_versions (id),
    sequence        INTEGER NOT NULL,
    plan_ref        TEXT NOT NULL,
    beneficiary_id  TEXT NOT NULL,
    worker_id       TEXT,
    counted_start   TEXT NOT NULL,
    counted_end     TEXT NOT NULL,
    rounded_minutes INTEGER NOT NULL,
    corrected       INTEGER NOT NULL,
    shared_time     INTEGER NOT NULL,
    fingerprint     TEXT,
    PRIMARY KEY (financer_id, saad_siret, line_id)
) WITHOUT ROWID;
CREATE INDEX current_interventions_start ON current_interventions (financer_id, counted_start, sequence);
CREATE INDEX current_interventions_beneficiary ON current_interventions (financer_id, beneficiary_id, counted_start);
CREATE INDEX current_interventions_worker ON current_interventions (financer_id, saad_siret, worker_id, counted_start);

CREATE TABLE withdrawals (
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    line_id         TEXT NOT NULL,
    version_id      INTEGER NOT NULL REFERENCES intervention_versions (id),
    withdrawn_version_id INTEGER,
    transmission_id TEXT NOT NULL,
    withdrawn_at    TEXT NOT NULL
);
CREATE INDEX withdrawals_line ON withdrawals (financer_id, saad_siret, line_id);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    financer_id TEXT NOT NULL,
    at          TEXT NOT NULL,
    token_id    TEXT,
    saad_siret  TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_log_at ON audit_log (financer_id, at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Month close (R7, R9).
CREATE TABLE months (
    financer_id TEXT NOT NULL,
    month       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at   TEXT,
    close_run_id TEXT,
    PRIMARY KEY (financer_id, month)
);

CREATE TABLE invoices (
    id                   TEXT PRIMARY KEY,
    financer_id          TEXT NOT NULL,
    saad_siret           TEXT NOT NULL,
    aid_type             TEXT NOT NULL CHECK (aid_type IN ('APA', 'PCH', 'AM')),
    month                TEXT NOT NULL,
    kind                 TEXT NOT NULL CHECK (kind IN ('proforma', 'regularisation')),
    status               TEXT NOT NULL CHECK (status IN ('proforma', 'saad_validated', 'final', 'paid')),
    line_count           INTEGER NOT NULL,
    billed_minutes       INTEGER NOT NULL,
    rejected_minutes     INTEGER NOT NULL,
    valued_amount        TEXT NOT NULL,
    participation_amount TEXT NOT NULL,
    amount_due           TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    close_run_id         TEXT NOT NULL,
    saad_validated_at    TEXT,
    final_at             TEXT,
    batch_id             TEXT
);
CREATE INDEX invoices_month ON invoices (financer_id, month, saad_siret);
CREATE INDEX invoices_status ON invoices (financer_id, status);
-- A final (or paid) invoice keeps its figures; only its status may move to
-- paid and its batch be set.
CREATE TRIGGER invoices_final_immutable BEFORE UPDATE ON invoices
WHEN OLD.status IN ('final', 'paid') AND (
    NEW.id IS NOT OLD.id OR NEW.financer_id IS NOT OLD.financer_id OR NEW.saad_siret IS NOT OLD.saad_siret
    OR NEW.aid_type IS NOT OLD.aid_type OR NEW.month IS NOT OLD.month OR NEW.kind IS NOT OLD.kind
    OR NEW.line_count IS NOT OLD.line_count OR NEW.billed_minutes IS NOT OLD.billed_minutes
    OR NEW.rejected_minutes IS NOT OLD.rejected_minutes OR NEW.valued_amount IS NOT OLD.valued_amount
    OR NEW.participation_amount IS NOT OLD.participation_amount OR NEW.amount_due IS NOT OLD.amount_due
    OR NEW.status NOT IN ('final', 'paid') OR (OLD.status = 'paid' AND NEW.status <> 'paid')
    OR (OLD.batch_id IS NOT NULL AND NEW.batch_id IS NOT OLD.batch_id))
BEGIN
    SELECT RAISE(ABORT, 'a final invoice is immutable');
END;
CREATE TRIGGER invoices_final_no_delete BEFORE DELETE ON invoices
WHEN OLD.status IN ('final', 'paid')
BEGIN
    SELECT RAISE(ABORT, 'a final invoice is immutable');
END;

CREATE TABLE invoice_lines (
    invoice_id           TEXT NOT NULL REFERENCES invoices (id),
    line_no              INTEGER NOT NULL,
    plan_ref             TEXT NOT NULL,
    beneficiary_id       TEXT NOT NULL,
    billed_minutes       INTEGER NOT NULL,
    rejected_minutes     INTEGER NOT NULL,
    hourly_rate          TEXT NOT NULL,
    valued_amount        TEXT NOT NULL,
    participation_amount TEXT NOT NULL,
    amount_due           TEXT NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);
CREATE TRIGGER invoice_lines_final_no_update BEFORE UPDATE ON invoice_lines
WHEN (SELECT status FROM invoices WHERE id = OLD.invoice_id) IN ('final', 'paid')
BEGIN
    SELECT RAISE(ABORT, 'a final invoice is immutable');
END;
CREATE TRIGGER invoice_lines_final_no_delete BEFORE DELETE ON invoice_lines
WHEN (SELECT status FROM invoices WHERE id = OLD.invoice_id) IN ('final', 'paid')
BEGIN
    SELECT RAISE(ABORT, 'a final invoice is immutable');
END;

-- Traceability: which intervention versions (and minutes) a line billed.
CREATE TABLE invoice_line_interventions (
    invoice_id       TEXT NOT NULL,
    line_no          INTEGER NOT NULL,
    version_id       INTEGER NOT NULL REFERENCES intervention_versions (id),
    billed_minutes   INTEGER NOT NULL,
    rejected_minutes INTEGER NOT NULL,
    PRIMARY KEY (invoice_id, line_no, version_id),
    FOREIGN KEY (invoice_id, line_no) REFERENCES invoice_lines (invoice_id, line_no)
);
CREATE INDEX invoice_line_interventions_version ON invoice_line_interventions (version_id);

CREATE TABLE payment_batches (
    id          TEXT PRIMARY KEY,
    financer_id TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('issued')),
    total       TEXT NOT NULL
);
CREATE TRIGGER payment_batches_no_update BEFORE UPDATE ON payment_batches
BEGIN
    SELECT RAISE(ABORT, 'an issued payment batch is immutable');
END;
CREATE TRIGGER payment_batches_no_delete BEFORE DELETE ON payment_batches
BEGIN
    SELECT RAISE(ABORT, 'an issued payment batch is immutable');
END;

CREATE TABLE batch_payments (
    batch_id    TEXT NOT NULL REFERENCES payment_batches (id),
    saad_siret  TEXT NOT NULL,
    iban        TEXT NOT NULL,
    bic         TEXT NOT NULL,
    amount      TEXT NOT NULL,
    invoice_ids TEXT NOT NULL,
    PRIMARY KEY (batch_id, saad_siret)
);
CREATE TRIGGER batch_payments_no_update BEFORE UPDATE ON batch_payments
BEGIN
    SELECT RAISE(ABORT, 'an issued payment batch is immutable');
END;
CREATE TRIGGER batch_payments_no_delete BEFORE DELETE ON batch_payments
BEGIN
    SELECT RAISE(ABORT, 'an issued payment batch is immutable');
END;
