-- Month close: an invoice line's traceability (which intervention versions
-- it billed, with their billed and rejected minutes) is kept in the line
-- itself, as one JSON array `[[version_id, billed_minutes,
-- rejected_minutes], ...]` ordered by version id, instead of one row per
-- billed intervention in `invoice_line_interventions` (issue #9).
--
-- A département close bills ~300 000 interventions on ~10 000 lines: the
-- 300 000 rows (one COPY), their primary key, their version index and the
-- statement-level reference trigger were more than half of the close's
-- time. The traces are only ever read with their line (invoice detail,
-- exports), never searched by version. The references they hold stay valid
-- by construction: the close takes the version ids from the rows it read,
-- and intervention versions are append-only (their triggers refuse UPDATE
-- and DELETE), so a version a line names never goes away.
--
-- Existing traces are moved into their lines, then the table, its
-- triggers and their functions are dropped. The final-invoice guard is
-- lifted for that one update (moving the traces of a final invoice does not
-- change what it says) and put back.
ALTER TABLE invoice_lines ADD COLUMN interventions TEXT NOT NULL DEFAULT '[]';

ALTER TABLE invoice_lines DISABLE TRIGGER invoice_lines_final_immutable;

UPDATE invoice_lines l SET interventions = t.packed
FROM (SELECT invoice_id, line_no,
             json_agg(json_build_array(version_id, billed_minutes, rejected_minutes)
                      ORDER BY version_id)::text AS packed
      FROM invoice_line_interventions
      GROUP BY invoice_id, line_no) t
WHERE t.invoice_id = l.invoice_id AND t.line_no = l.line_no;

ALTER TABLE invoice_lines ENABLE TRIGGER invoice_lines_final_immutable;

DROP TRIGGER invoice_lines_keep_traced ON invoice_lines;
DROP FUNCTION invoice_lines_keep_traced();
DROP TABLE invoice_line_interventions;
DROP FUNCTION invoice_line_interventions_check_references();
