-- 002: per (survey, day, stage, touchpoint, channel, segment) histograms of every answer.
-- Kept up to date in the same transaction as each insert, so score reads never scan
-- responses. Absent channel/segment are stored as '' (a primary key cannot hold NULL).
-- Databases from before this migration get their rollups backfilled from their rows.
CREATE TABLE rollups (
  survey     TEXT NOT NULL,
  day        INTEGER NOT NULL,          -- days since 1970-01-01 (UTC) of submitted_at
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
  PRIMARY KEY (survey, day, stage, touchpoint, channel, segment)
) WITHOUT ROWID;

INSERT INTO rollups
SELECT survey, submitted_at / 86400 - (submitted_at % 86400 < 0), stage, touchpoint,
       coalesce(channel, ''), coalesce(segment, ''), count(*),
       sum(nps IS 0), sum(nps IS 1), sum(nps IS 2), sum(nps IS 3), sum(nps IS 4),
       sum(nps IS 5), sum(nps IS 6), sum(nps IS 7), sum(nps IS 8), sum(nps IS 9),
       sum(nps IS 10),
       sum(csat IS 1), sum(csat IS 2), sum(csat IS 3), sum(csat IS 4), sum(csat IS 5),
       sum(ces IS 1), sum(ces IS 2), sum(ces IS 3), sum(ces IS 4), sum(ces IS 5),
       sum(ces IS 6), sum(ces IS 7)
FROM responses
GROUP BY 1, 2, 3, 4, 5, 6;
