#!/usr/bin/env bash
# bench/seed.sh CXD DB ROWS - write a cxd database holding ROWS responses for survey
# "checkout" (+ ROWS/5 for "onboarding"), the same rows ../shared/bench/peers.sh gives the
# peers: stage n%6, touchpoint web, channel n%3, segment n%2, nps n%11, csat n%5+1, ces n%7+1,
# submitted 1700000000+n. Fast path, not through HTTP: cxd creates the schema, the sqlite3
# shell bulk-loads the rows and derives the rollups exactly as migrations 002-005 and 015 do,
# and moves the rollup mark (019) past them.
set -euo pipefail
CXD=$1 DB=$2 ROWS=$3
rm -f "$DB" "$DB-wal" "$DB-shm" "$DB.admin-key"
log=$(mktemp)
"$CXD" --db "$DB" --listen 127.0.0.1:0 --no-access-log 2>"$log" &
pid=$!
for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.05; done
port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
key=$(cat "$DB.admin-key")   # stderr is not a terminal: the first key's secret is there
echo "$key" > "$DB.key"   # the admin key, for bench/run
for s in checkout onboarding; do
  curl -sf -X POST "http://127.0.0.1:$port/v1/surveys" -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $key" \
    -d "{\"id\":\"$s\",\"title\":\"$s\"}" >/dev/null
done
kill -TERM $pid; wait $pid; rm -f "$log"
# One rollup row's histogram from raw rows (the day and quarter-hour levels both use it).
HIST="sum(nps IS 0), sum(nps IS 1), sum(nps IS 2), sum(nps IS 3), sum(nps IS 4),
       sum(nps IS 5), sum(nps IS 6), sum(nps IS 7), sum(nps IS 8), sum(nps IS 9),
       sum(nps IS 10),
       sum(csat IS 1), sum(csat IS 2), sum(csat IS 3), sum(csat IS 4), sum(csat IS 5),
       sum(ces IS 1), sum(ces IS 2), sum(ces IS 3), sum(ces IS 4), sum(ces IS 5),
       sum(ces IS 6), sum(ces IS 7)"
sqlite3 "$DB" >/dev/null <<SQL
PRAGMA synchronous=OFF;
DROP INDEX responses_survey_time;
DROP INDEX responses_customer;
BEGIN;
WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < $ROWS + $ROWS / 5)
INSERT INTO responses(survey, stage, touchpoint, channel, segment, customer, nps, csat, ces,
                      comment, submitted_at, received_at)
SELECT CASE WHEN n <= $ROWS THEN 'checkout' ELSE 'onboarding' END,
       CASE n % 6 WHEN 0 THEN 'awareness' WHEN 1 THEN 'interest' WHEN 2 THEN 'consideration'
                  WHEN 3 THEN 'purchase' WHEN 4 THEN 'retention' ELSE 'advocacy' END,
       'web', CASE n % 3 WHEN 0 THEN 'web' WHEN 1 THEN 'email' ELSE 'app' END,
       CASE n % 2 WHEN 0 THEN 'new' ELSE 'returning' END,
       'seed' || n, n % 11, n % 5 + 1, n % 7 + 1, 'fast delivery', 1700000000 + n,
       (1700000000 + n) * 1000
FROM c;
INSERT INTO rollups
SELECT survey, submitted_at / 86400, stage, touchpoint, coalesce(channel, ''),
       coalesce(segment, ''), count(*),
       $HIST
FROM responses GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO rollups_month
SELECT survey, CAST(strftime('%s', day * 86400, 'unixepoch', 'start of month') AS INTEGER) / 86400,
       stage, touchpoint, channel, segment, sum(responses),
       sum(nps0), sum(nps1), sum(nps2), sum(nps3), sum(nps4), sum(nps5), sum(nps6),
       sum(nps7), sum(nps8), sum(nps9), sum(nps10),
       sum(csat1), sum(csat2), sum(csat3), sum(csat4), sum(csat5),
       sum(ces1), sum(ces2), sum(ces3), sum(ces4), sum(ces5), sum(ces6), sum(ces7)
FROM rollups GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO rollups_total
SELECT survey, stage, touchpoint, channel, segment, sum(responses),
       sum(nps0), sum(nps1), sum(nps2), sum(nps3), sum(nps4), sum(nps5), sum(nps6),
       sum(nps7), sum(nps8), sum(nps9), sum(nps10),
       sum(csat1), sum(csat2), sum(csat3), sum(csat4), sum(csat5),
       sum(ces1), sum(ces2), sum(ces3), sum(ces4), sum(ces5), sum(ces6), sum(ces7)
FROM rollups_month GROUP BY 1, 2, 3, 4, 5;
INSERT INTO rollups_quarter
SELECT survey, submitted_at / 900, stage, touchpoint, coalesce(channel, ''),
       coalesce(segment, ''), count(*),
       $HIST
FROM responses GROUP BY 1, 2, 3, 4, 5, 6;
UPDATE rollup_mark SET upto = (SELECT coalesce(max(id), 0) FROM responses);
COMMIT;
CREATE INDEX responses_survey_time ON responses(survey, submitted_at);
CREATE INDEX responses_customer ON responses(customer) WHERE customer IS NOT NULL;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
# The file's pages on the disk before anything is measured on it: otherwise the kernel's
# writeback of a fresh 1.6 GB file (10M rows) runs under the first load and stalls it.
sync "$DB"
