-- What a month close did not pay on a pro-forma line (R7, R8), for the
-- rejection notice: OVERRUN minutes of an intervention beyond the plan's
-- available minutes (`line_id`, `day` set; `billed_minutes` the part paid)
-- and the RATE_ABOVE_CEILING cut of a line (`line_id` NULL, `minutes` 0).
-- Written in the close's transaction; append-only like the close itself.
CREATE TABLE close_rejections (
    invoice_id      TEXT NOT NULL REFERENCES invoices (id),
    seq             INTEGER NOT NULL,
    financer_id     TEXT NOT NULL,
    saad_siret      TEXT NOT NULL,
    month           TEXT NOT NULL,
    plan_ref        TEXT NOT NULL,
    beneficiary_id  TEXT NOT NULL,
    line_id         TEXT,
    day             TEXT,
    code            TEXT NOT NULL,
    minutes         INTEGER NOT NULL,
    billed_minutes  INTEGER NOT NULL,
    amount          TEXT,
    PRIMARY KEY (invoice_id, seq)
);
CREATE INDEX close_rejections_month ON close_rejections (financer_id, saad_siret, month);
CREATE TRIGGER close_rejections_no_update BEFORE UPDATE ON close_rejections
BEGIN
    SELECT RAISE(ABORT, 'close_rejections are append-only');
END;
CREATE TRIGGER close_rejections_no_delete BEFORE DELETE ON close_rejections
BEGIN
    SELECT RAISE(ABORT, 'close_rejections are append-only');
END;
