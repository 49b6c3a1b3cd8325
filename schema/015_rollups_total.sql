-- 015: the same histograms over all time, one row per group, kept beside the quarter-hour,
-- daily and monthly rollups in the same transaction. An all-time read (no from, no to, no
-- bucket, UTC) reads one row per group here instead of one per month per group, so its cost
-- stays flat however long the data spans; the primary key's order lets a by=stage read
-- group without a sorter.
CREATE TABLE rollups_total (
  survey     TEXT NOT NULL,
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
  PRIMARY KEY (survey, stage, touchpoint, channel, segment)
) WITHOUT ROWID;

INSERT INTO rollups_total
SELECT survey, stage, touchpoint, channel, segment, sum(responses),
       sum(nps0), sum(nps1), sum(nps2), sum(nps3), sum(nps4), sum(nps5), sum(nps6),
       sum(nps7), sum(nps8), sum(nps9), sum(nps10),
       sum(csat1), sum(csat2), sum(csat3), sum(csat4), sum(csat5),
       sum(ces1), sum(ces2), sum(ces3), sum(ces4), sum(ces5), sum(ces6), sum(ces7)
FROM rollups_month
GROUP BY 1, 2, 3, 4, 5;
