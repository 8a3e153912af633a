-- What a month close did not pay on a pro-forma line (R7, R8), for the
-- rejection notice: OVERRUN minutes of an intervention beyond the plan's
-- available minutes (`line_id`, `day` set; `billed_minutes` the part paid)
-- and the RATE_ABOVE_CEILING cut of a line (`line_id` NULL, `minutes` 0).
-- Written in the close's transaction; append-only like the close itself.
CREATE TABLE close_rejections (
    invoice_id      TEXT NOT NULL REFERENCES invoices (id),
    seq             BIGINT NOT NULL,
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    month           TEXT NOT NULL,
    plan_ref        TEXT NOT NULL,
    beneficiary_id  TEXT NOT NULL,
    line_id         TEXT,
    day             TEXT,
    code            TEXT NOT NULL,
    minutes         BIGINT NOT NULL,
    billed_minutes  BIGINT NOT NULL,
    amount          NUMERIC(14,2),
    PRIMARY KEY (invoice_id, seq)
);
CREATE INDEX close_rejections_month ON close_rejections (financer_id, saad_siret, month);
CREATE TRIGGER close_rejections_append_only BEFORE UPDATE OR DELETE ON close_rejections
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
