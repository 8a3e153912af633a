-- saad-gateway schema, PostgreSQL dialect. Same meaning as migrations/sqlite.
-- Conventions: instants timestamptz, dates date, months text 'YYYY-MM',
-- money NUMERIC(14,2), rates NUMERIC(8,5), bound from Rust.

CREATE TABLE saads (
    financer_id     TEXT NOT NULL,
    siret           TEXT NOT NULL,
    name            TEXT NOT NULL,
    iban            TEXT NOT NULL,
    bic             TEXT NOT NULL,
    declarative     BOOLEAN NOT NULL,
    finess          TEXT,
    legal_category  TEXT,
    account_holder  TEXT,
    address_line1   TEXT,
    address_postcode TEXT,
    address_city    TEXT,
    address_country TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
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
    valid_from  DATE NOT NULL,
    valid_to    DATE,
    hourly_rate NUMERIC(14,2) NOT NULL,
    PRIMARY KEY (financer_id, siret, aid_type, valid_from),
    FOREIGN KEY (financer_id, siret, aid_type) REFERENCES saad_aid_types (financer_id, siret, aid_type)
);

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    financer_id TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('financer', 'saad')),
    saad_siret  TEXT,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    CHECK ((role = 'saad') = (saad_siret IS NOT NULL))
);

CREATE TABLE plan_versions (
    financer_id        TEXT NOT NULL,
    plan_ref           TEXT NOT NULL,
    version            BIGINT NOT NULL CHECK (version >= 0),
    beneficiary_id     TEXT NOT NULL,
    saad_siret         TEXT NOT NULL,
    aid_type           TEXT NOT NULL CHECK (aid_type IN ('APA', 'PCH', 'AM')),
    gir                BIGINT,
    household          TEXT,
    valid_from         DATE NOT NULL,
    valid_to           DATE NOT NULL,
    monthly_minutes    BIGINT NOT NULL,
    hourly_rate        NUMERIC(14,2) NOT NULL,
    participation_rate NUMERIC(8,5),
    coverage_rate      NUMERIC(8,5),
    monthly_amount     NUMERIC(14,2) NOT NULL,
    respite_exemption  BOOLEAN NOT NULL,
    household_ref      TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
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
    start_date     DATE NOT NULL,
    end_date       DATE,
    note           TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (financer_id, beneficiary_id, kind, start_date)
);
CREATE INDEX events_updated ON events (financer_id, updated_at);

CREATE TABLE overrun_authorisations (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    financer_id TEXT NOT NULL,
    plan_ref   TEXT NOT NULL,
    month      TEXT NOT NULL,
    minutes    BIGINT NOT NULL CHECK (minutes >= 0),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX overrun_authorisations_plan_month ON overrun_authorisations (financer_id, plan_ref, month);

CREATE TABLE beneficiary_aliases (
    financer_id    TEXT NOT NULL,
    saad_siret     TEXT NOT NULL,
    plan_ref       TEXT NOT NULL,
    alias_id       TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
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
    line_count      BIGINT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (financer_id, saad_siret, transmission_id)
);

-- Raw (certified) stamps: evidence, append-only (R2).
CREATE TABLE raw_stamps (
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    line_id         TEXT NOT NULL,
    side            TEXT NOT NULL CHECK (side IN ('start', 'end')),
    stamp           TEXT NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    transmission_id TEXT NOT NULL,
    PRIMARY KEY (financer_id, saad_siret, line_id, side)
);

-- Every judged line of every delivery (history; append-only as well).
CREATE TABLE intervention_versions (
    id                BIGINT PRIMARY KEY,
    financer_id       TEXT NOT NULL,
    saad_siret        TEXT NOT NULL,
    line_id           TEXT NOT NULL,
    transmission_id   TEXT NOT NULL,
    line_no           BIGINT NOT NULL,
    action            TEXT NOT NULL CHECK (action IN ('count', 'stamps_only', 'withdraw')),
    status            TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    reasons           TEXT NOT NULL,
    warnings          TEXT NOT NULL,
    plan_ref          TEXT,
    beneficiary_id    TEXT,
    worker_id         TEXT,
    counted_start     TIMESTAMPTZ,
    counted_end       TIMESTAMPTZ,
    counted_minutes   BIGINT NOT NULL,
    rounded_minutes   BIGINT NOT NULL,
    corrected         BOOLEAN NOT NULL,
    declarative       BOOLEAN NOT NULL,
    correction_reason TEXT,
    corrected_start   TEXT,
    corrected_end     TEXT,
    timesheet_ref     TEXT,
    raw_received_at   TIMESTAMPTZ,
    sequence          BIGINT,
    month             TEXT NOT NULL,
    fingerprint       TEXT,
    received_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX intervention_versions_saad_month ON intervention_versions (financer_id, saad_siret, month);
CREATE INDEX intervention_versions_line ON intervention_versions (financer_id, saad_siret, line_id);
CREATE INDEX intervention_versions_sequence ON intervention_versions (financer_id, sequence);

-- Pointer to the currently accepted version of each (SAAD, line id), with
-- the fields the overlap checks and the month close read (denormalised so
-- that both are single index range scans). Not evidence: replaced on each
-- newly accepted version, deleted on withdrawal.
CREATE TABLE current_interventions (
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    line_id         TEXT NOT NULL,
    version_id      BIGINT NOT NULL REFERENCES intervention_versions (id),
    sequence        BIGINT NOT NULL,
    plan_ref        TEXT NOT NULL,
    beneficiary_id  TEXT NOT NULL,
    worker_id       TEXT,
    counted_start   TIMESTAMPTZ NOT NULL,
    counted_end     TIMESTAMPTZ NOT NULL,
    rounded_minutes BIGINT NOT NULL,
    corrected       BOOLEAN NOT NULL,
    shared_time     BOOLEAN NOT NULL,
    fingerprint     TEXT,
    PRIMARY KEY (financer_id, saad_siret, line_id)
);
CREATE INDEX current_interventions_start ON current_interventions (financer_id, counted_start, sequence);
CREATE INDEX current_interventions_beneficiary ON current_interventions (financer_id, beneficiary_id, counted_start);
CREATE INDEX current_interventions_worker ON current_interventions (financer_id, saad_siret, worker_id, counted_start);

CREATE TABLE withdrawals (
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    line_id         TEXT NOT NULL,
    version_id      BIGINT NOT NULL REFERENCES intervention_versions (id),
    withdrawn_version_id BIGINT,
    transmission_id TEXT NOT NULL,
    withdrawn_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX withdrawals_line ON withdrawals (financer_id, saad_siret, line_id);

CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    financer_id TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    token_id    TEXT,
    saad_siret  TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_log_at ON audit_log (financer_id, at);

-- Month close (R7, R9).
CREATE TABLE months (
    financer_id TEXT NOT NULL,
    month       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at   TIMESTAMPTZ,
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
    line_count           BIGINT NOT NULL,
    billed_minutes       BIGINT NOT NULL,
    rejected_minutes     BIGINT NOT NULL,
    valued_amount        NUMERIC(14,2) NOT NULL,
    participation_amount NUMERIC(14,2) NOT NULL,
    amount_due           NUMERIC(14,2) NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    close_run_id         TEXT NOT NULL,
    saad_validated_at    TIMESTAMPTZ,
    final_at             TIMESTAMPTZ,
    batch_id             TEXT
);
CREATE INDEX invoices_month ON invoices (financer_id, month, saad_siret);
CREATE INDEX invoices_status ON invoices (financer_id, status);
-- A final (or paid) invoice keeps its figures; only its status may move to
-- paid and its batch be set.

CREATE TABLE invoice_lines (
    invoice_id           TEXT NOT NULL REFERENCES invoices (id),
    line_no              BIGINT NOT NULL,
    plan_ref             TEXT NOT NULL,
    beneficiary_id       TEXT NOT NULL,
    billed_minutes       BIGINT NOT NULL,
    rejected_minutes     BIGINT NOT NULL,
    hourly_rate          NUMERIC(14,2) NOT NULL,
    valued_amount        NUMERIC(14,2) NOT NULL,
    participation_amount NUMERIC(14,2) NOT NULL,
    amount_due           NUMERIC(14,2) NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);

-- Traceability: which intervention versions (and minutes) a line billed.
CREATE TABLE invoice_line_interventions (
    invoice_id       TEXT NOT NULL,
    line_no          BIGINT NOT NULL,
    version_id       BIGINT NOT NULL REFERENCES intervention_versions (id),
    billed_minutes   BIGINT NOT NULL,
    rejected_minutes BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, line_no, version_id),
    FOREIGN KEY (invoice_id, line_no) REFERENCES invoice_lines (invoice_id, line_no)
);
CREATE INDEX invoice_line_interventions_version ON invoice_line_interventions (version_id);

CREATE TABLE payment_batches (
    id          TEXT PRIMARY KEY,
    financer_id TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('issued')),
    total       NUMERIC(14,2) NOT NULL
);

CREATE TABLE batch_payments (
    batch_id    TEXT NOT NULL REFERENCES payment_batches (id),
    saad_siret  TEXT NOT NULL,
    iban        TEXT NOT NULL,
    bic         TEXT NOT NULL,
    amount      NUMERIC(14,2) NOT NULL,
    invoice_ids TEXT NOT NULL,
    PRIMARY KEY (batch_id, saad_siret)
);

-- Append-only and immutability rules, enforced by the schema.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only or immutable: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER raw_stamps_append_only BEFORE UPDATE OR DELETE ON raw_stamps
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER intervention_versions_append_only BEFORE UPDATE OR DELETE ON intervention_versions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER raw_stamps_no_truncate BEFORE TRUNCATE ON raw_stamps
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER payment_batches_immutable BEFORE UPDATE OR DELETE ON payment_batches
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER batch_payments_immutable BEFORE UPDATE OR DELETE ON batch_payments
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- A final (or paid) invoice keeps its figures; only its status may move to
-- paid and its batch be set once.
CREATE FUNCTION invoices_final_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('final', 'paid') THEN
        IF TG_OP = 'DELETE'
           OR (NEW.id, NEW.financer_id, NEW.saad_siret, NEW.aid_type, NEW.month, NEW.kind,
               NEW.line_count, NEW.billed_minutes, NEW.rejected_minutes, NEW.valued_amount,
               NEW.participation_amount, NEW.amount_due)
              IS DISTINCT FROM
              (OLD.id, OLD.financer_id, OLD.saad_siret, OLD.aid_type, OLD.month, OLD.kind,
               OLD.line_count, OLD.billed_minutes, OLD.rejected_minutes, OLD.valued_amount,
               OLD.participation_amount, OLD.amount_due)
           OR NEW.status NOT IN ('final', 'paid')
           OR (OLD.status = 'paid' AND NEW.status <> 'paid')
           OR (OLD.batch_id IS NOT NULL AND NEW.batch_id IS DISTINCT FROM OLD.batch_id) THEN
            RAISE EXCEPTION 'a final invoice is immutable (invoice %)', OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER invoices_final_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_final_guard();

CREATE FUNCTION invoice_lines_final_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT status FROM invoices WHERE id = OLD.invoice_id) IN ('final', 'paid') THEN
        RAISE EXCEPTION 'a final invoice is immutable (invoice %)', OLD.invoice_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER invoice_lines_final_immutable BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_final_guard();
