-- 005: the same histograms per quarter of an hour (UTC), for trends in a time zone other
-- than UTC: every offset in use is a whole number of quarter hours, so a local day is an
-- exact run of quarters. Written in the same transaction as the daily and monthly rows;
-- read only by trend queries with a tz offset. `quarter` = unix seconds / 900.
CREATE TABLE rollups_quarter (
  survey     TEXT NOT NULL,
  quarter    INTEGER NOT NULL,
  stage      TEXT NOT NULL,
  touchpoint TEXT NOT NULL,
  channel    TEXT NOT NULL,
  segment    TEXT NOT NULL,
  responses  INTEGER NOT NULL DEFAULT 0,
  nps0 INTEGER NOT NULL DEFAULT 0, nps1 INTEGER NOT NULL DEFAULT 0,
  nps2 INTEGER NOT NULL DEFAULT 0, nps3 INTEGER NOT NULL DEFAULT 0,
  nps4 INTEGER NOT NULL DEFAULT 0, nps5 INTEGER NOT NULL DEFAULT 0,
  nps6 INTEGER NOT NULL DEFAULT 0, nps7 INTEGER NOT NULL DEFAULT 0,
  nps8 INTEGER NOT NULL DEFAULT 0, nps9 INTEGER NOT NULL DEFAULT 0,
  nps10 INTEGER NOT NULL DEFAULT 0,
  csat1 INTEGER NOT NULL DEFAULT 0, csat2 INTEGER NOT NULL DEFAULT 0,
  csat3 INTEGER NOT NULL DEFAULT 0, csat4 INTEGER NOT NULL DEFAULT 0,
  csat5 INTEGER NOT NULL DEFAULT 0,
  ces1 INTEGER NOT NULL DEFAULT 0, ces2 INTEGER NOT NULL DEFAULT 0,
  ces3 INTEGER NOT NULL DEFAULT 0, ces4 INTEGER NOT NULL DEFAULT 0,
  ces5 INTEGER NOT NULL DEFAULT 0, ces6 INTEGER NOT NULL DEFAULT 0,
  ces7 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (survey, quarter, stage, touchpoint, channel, segment)
) WITHOUT ROWID;

INSERT INTO rollups_quarter
SELECT survey, submitted_at / 900, stage, touchpoint, coalesce(channel, ''),
       coalesce(segment, ''), count(*),
       sum(nps IS 0), sum(nps IS 1), sum(nps IS 2), sum(nps IS 3), sum(nps IS 4),
       sum(nps IS 5), sum(nps IS 6), sum(nps IS 7), sum(nps IS 8), sum(nps IS 9),
       sum(nps IS 10),
       sum(csat IS 1), sum(csat IS 2), sum(csat IS 3), sum(csat IS 4), sum(csat IS 5),
       sum(ces IS 1), sum(ces IS 2), sum(ces IS 3), sum(ces IS 4), sum(ces IS 5),
       sum(ces IS 6), sum(ces IS 7)
FROM responses
GROUP BY 1, 2, 3, 4, 5, 6;
