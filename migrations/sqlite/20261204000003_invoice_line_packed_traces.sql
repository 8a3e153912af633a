-- Month close: an invoice line's traceability (which intervention versions
-- it billed, with their billed and rejected minutes) is kept in the line
-- itself, as one JSON array `[[version_id, billed_minutes,
-- rejected_minutes], ...]` ordered by version id, instead of one row per
-- billed intervention in `invoice_line_interventions` (issue #9).
--
-- A département close bills ~300 000 interventions on ~10 000 lines: the
-- 300 000 rows, their primary key and their version index were half of the
-- close's time. The traces are only ever read with their line (invoice
-- detail, exports), never searched by version. The references they hold
-- stay valid by construction: the close takes the version ids from the
-- rows it read, and intervention versions are append-only (their triggers
-- refuse UPDATE and DELETE), so a version a line names never goes away.
--
-- Existing traces are moved into their lines, then the table is dropped.
-- The final-invoice guard is lifted for that one update (moving the traces
-- of a final invoice does not change what it says) and put back as it was.
ALTER TABLE invoice_lines ADD COLUMN interventions TEXT NOT NULL DEFAULT '[]';

DROP TRIGGER invoice_lines_final_no_update;

UPDATE invoice_lines SET interventions = (
    SELECT json_group_array(json_array(version_id, billed_minutes, rejected_minutes))
    FROM (SELECT t.version_id, t.billed_minutes, t.rejected_minutes
          FROM invoice_line_interventions t
          WHERE t.invoice_id = invoice_lines.invoice_id AND t.line_no = invoice_lines.line_no
          ORDER BY t.version_id)
)
WHERE EXISTS (SELECT 1 FROM invoice_line_interventions t
              WHERE t.invoice_id = invoice_lines.invoice_id AND t.line_no = invoice_lines.line_no);

CREATE TRIGGER invoice_lines_final_no_update BEFORE UPDATE ON invoice_lines
WHEN (SELECT status FROM invoices WHERE id = OLD.invoice_id) IN ('final', 'paid')
BEGIN
    SELECT RAISE(ABORT, 'a final invoice is immutable');
END;

DROP TABLE invoice_line_interventions;
