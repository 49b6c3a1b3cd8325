-- 019: a response's rollup counts are written after its commit, not in it. The commit that
-- answers 201 holds the row and its two index entries; a later transaction of its own
-- (src/store_rollups.c, every few milliseconds or thousand responses) adds the counts of
-- every response committed since, in one upsert per key and level.
--
-- rollup_mark.upto: every response with id <= upto is counted in the rollups, none above
-- it is. Reads of scores add the responses above the mark from the table itself, so they
-- stay exact whatever the lag. The mark moves in the same transaction as the counts, so a
-- crash between a response's commit and its counts' loses nothing: the next start counts
-- the responses above the mark. Created at max(id): until now every row was counted at
-- its commit.
CREATE TABLE rollup_mark (
  one  INTEGER PRIMARY KEY CHECK (one = 1),
  upto INTEGER NOT NULL
);
INSERT INTO rollup_mark(one, upto) SELECT 1, coalesce(max(id), 0) FROM responses;
