#!/usr/bin/env bash
# bench/rules.sh CXD SETUP [DUR] - POST throughput with a survey's rules active: one wrk run
# (c16, ../shared/bench/post.lua, DUR seconds, default 10) against a fresh database.
#   SETUP: rules0 (no rules), nomatch10 (10 rules that never match), rules10 (10 rules, 5 of
#   which match: 1.42 webhook deliveries per response). Endpoint rows are written with
#   sqlite3 (the endpoints API is another part's). Prints requests/s and the CPU cxd used
#   per stored response. CXD: a release build (meson --buildtype=release).
set -euo pipefail
CXD=$1 CONF=$2 DUR=${3:-10} PORT=18171 D=${OUT:-/tmp/cxd-bench-rules}/$2
SHARED=${SHARED:-$(cd "$(dirname "$0")/../../shared/bench" 2>/dev/null && pwd || echo /work/shared/bench)}
rm -rf "$D"; mkdir -p "$D"
"$CXD" --db "$D/cxd.db" --listen 127.0.0.1:$PORT --no-access-log --rate-ip 0 --rate-key 0 --per-ip-connections 0 2>"$D/log" &
PID=$!
trap 'kill -TERM $PID; wait $PID || true' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$PORT/healthz && break; sleep 0.05; done
KEY=$(cat "$D/cxd.db.admin-key")
H=(-H "Authorization: Bearer $KEY" -H 'Content-Type: application/json')
curl -sf "${H[@]}" -X POST http://127.0.0.1:$PORT/v1/surveys -d '{"id":"checkout","title":"Checkout"}' >/dev/null
now=$(date +%s)
sqlite3 "$D/cxd.db" ".timeout 5000" "INSERT INTO endpoints(id,url,secret,created_at,updated_at) VALUES ('support-desk','https://d.example/','whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',$now,$now),('referrals','https://r.example/','whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',$now,$now)"
rule() { curl -sf "${H[@]}" -X POST http://127.0.0.1:$PORT/v1/surveys/checkout/rules -d "$1" >/dev/null; }
W='"actions":[{"type":"webhook","endpoint":"support-desk"}]'
if [[ $CONF == rules10 || $CONF == nomatch10 ]]; then
  if [[ $CONF == rules10 ]]; then
    # these match (post.lua: nps n%11, stages rotate, a comment on every response)
    rule '{"id":"r1","name":"detractor purchase","when":{"nps":{"max":6},"stages":["purchase"]},'"$W"'}'
    rule '{"id":"r2","name":"promoter advocacy","when":{"nps":{"min":9},"stages":["advocacy"],"has_customer":true},"actions":[{"type":"webhook","endpoint":"referrals"}]}'
    rule '{"id":"r3","name":"every comment","when":{"has_comment":true},'"$W"'}'
    rule '{"id":"r4","name":"low csat","when":{"csat":{"max":2}},"actions":[{"type":"case","assignee":"team"}]}'
    rule '{"id":"r5","name":"high effort","when":{"ces":{"min":6}},'"$W"'}'
  else
    for i in 1 2 3 4 5; do rule '{"id":"r'$i'","name":"never","when":{"nps":{"max":6},"segments":["enterprise"]},'"$W"'}'; done
  fi
  # these never match
  rule '{"id":"r6","name":"enterprise","when":{"segments":["enterprise"]},'"$W"'}'
  rule '{"id":"r7","name":"app","when":{"channels":["app","phone"]},'"$W"'}'
  rule '{"id":"r8","name":"pos","when":{"touchpoints":["pos"],"nps":{"max":3}},'"$W"'}'
  rule '{"id":"r9","name":"anon","when":{"has_customer":false},'"$W"'}'
  rule '{"id":"r10","name":"off","enabled":false,'"$W"'}'
fi
cpu() { awk '{print $14+$15}' /proc/$PID/stat; }
c0=$(cpu)
out=$(wrk -t2 -c16 -d${DUR}s --timeout 5s -s "$SHARED/post.lua" -H "Authorization: Bearer $KEY" http://127.0.0.1:$PORT/v1/responses)
c1=$(cpu)
rps=$(grep Requests/sec <<<"$out" | awk '{print $2}')
lat=$(grep -m1 "Latency" <<<"$out" | awk '{print $2}')
non=$(grep -o "Non-2xx.*" <<<"$out" || true)
resp=$(sqlite3 "$D/cxd.db" ".timeout 5000" "select count(*) from responses")
del=$(sqlite3 "$D/cxd.db" ".timeout 5000" "select count(*) from deliveries")
tk=$(getconf CLK_TCK)
us=$(python3 -c "print(round(($c1-$c0)/$tk*1e6/$resp, 1))")
echo "$CONF rps=$rps cpu_us_per_response=$us lat_avg=$lat responses=$resp deliveries=$del $non"
