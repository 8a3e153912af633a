-- R7 figures of an invoice line, stored by the close so that the plan
-- consumption page shows them without reconciling the year again:
--   allotted_minutes    the month's allotment (prorata of the plan
--                       versions in force, floor), before carry-over;
--   carried_in_minutes  the unused allotment carried into the month from
--                       earlier months of the same year (0 in January).
-- Both are absolute figures of the month as computed at that close. On a
-- regularisation line they are the month's figures as RECOMPUTED at the
-- later close (not deltas, unlike the line's minutes and amounts), or NULL
-- when the plan no longer has a line in the recomputation. NULL on every
-- line stored before this migration (the close did not keep them).
-- Added columns only: existing rows and the immutability triggers of
-- final invoices are untouched.
ALTER TABLE invoice_lines ADD COLUMN allotted_minutes INTEGER;
ALTER TABLE invoice_lines ADD COLUMN carried_in_minutes INTEGER;
