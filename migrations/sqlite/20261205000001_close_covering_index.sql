-- The month close reads a month's current interventions in
-- (counted_start, sequence) order through this index (issue #9). With the
-- index on the order columns only, each of the month's rows then cost a
-- look-up in the table (WITHOUT ROWID, keyed by SAAD and line id, so the
-- month's rows are spread over all its pages): about 1-2.7 s for 300 000
-- rows with SQLite's 2 MiB page cache per connection, most of it copying
-- table pages in from the OS. Carrying the other columns the close reads
-- makes the index covering: one ordered pass over the index, ~0.4 s.
-- Same leading columns, so every query that used the old index uses this
-- one. (PostgreSQL reads the month in ~0.4 s with its index as it is.)
DROP INDEX current_interventions_start;
CREATE INDEX current_interventions_start ON current_interventions (
    financer_id, counted_start, sequence,
    version_id, plan_ref, beneficiary_id, counted_end, rounded_minutes, corrected
);
