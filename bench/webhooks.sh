#!/usr/bin/env bash
# bench/webhooks.sh CXD - POST rate (wrk c32, shared/bench/post.lua) with webhook endpoints:
#   0 endpoints | 3 endpoints subscribed to other events (the subscriber lookup, no rows) |
#   3 subscribed to response.created but paused (3 delivery rows per response, none sent) |
#   3 subscribed and active, sending to nginx answering 204 (needs nginx).
# Needs a cxd that emits response.created for each response (src/loop.c, the rules part).
# Every process it starts is stopped by PID. Env: DUR=5 REPS=2 PORT=18098 NGINX_PORT=18099
set -u
CXD=${1:?usage: bench/webhooks.sh path/to/release/cxd}
HERE=$(cd "$(dirname "$0")" && pwd)
POST_LUA=${POST_LUA:-$(dirname "$HERE")/../shared/bench/post.lua}   # ROOT/../shared, as bench/run
[[ -f $POST_LUA ]] || { echo "bench/webhooks.sh: no $POST_LUA (set POST_LUA=)" >&2; exit 1; }
DUR=${DUR:-5} REPS=${REPS:-2} PORT=${PORT:-18098} NGINX_PORT=${NGINX_PORT:-18099}
T=$(mktemp -d); B="http://127.0.0.1:$PORT"; PID=
cleanup() { [[ -n $PID ]] && kill -TERM "$PID" 2>/dev/null; [[ -f $T/nginx.pid ]] && kill "$(cat "$T/nginx.pid")"; }
trap cleanup EXIT
cat > "$T/nginx.conf" <<NGX
worker_processes 1; pid $T/nginx.pid; error_log $T/nginx-err.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $T/cbt; proxy_temp_path $T/pt; fastcgi_temp_path $T/ft;
  uwsgi_temp_path $T/ut; scgi_temp_path $T/st;
  server { listen 127.0.0.1:$NGINX_PORT; location / { return 204; } } }
NGX
command -v nginx >/dev/null && nginx -c "$T/nginx.conf" -p "$T" 2>/dev/null
api() { curl -sf -H "Authorization: Bearer $KEY" "$@" >/dev/null; }
start() {
  rm -f "$T"/b.db*
  "$CXD" --db "$T/b.db" --listen 127.0.0.1:$PORT --no-access-log --rate-ip 0 --rate-key 0 \
    --per-ip-connections 0 --webhook-allow-http --webhook-allow-private 2>>"$T/cxd.log" &
  PID=$!
  for _ in $(seq 100); do [[ -f $T/b.db.admin-key ]] && curl -sf -o /dev/null "$B/healthz" && break; sleep 0.05; done
  KEY=$(cat "$T/b.db.admin-key")
  api -X POST "$B/v1/surveys" -H 'Content-Type: application/json' -d '{"id":"checkout","title":"checkout"}'
}
stop() { kill -TERM "$PID"; wait "$PID"; PID=; }
endpoints() {  # EVENT [pause]
  for i in 1 2 3; do
    api -X POST "$B/v1/endpoints" -H 'Content-Type: application/json' \
      -d "{\"id\":\"e$i\",\"url\":\"http://127.0.0.1:$NGINX_PORT/h$i\",\"events\":[\"$1\"]}"
    [[ ${2:-} == pause ]] && api -X POST "$B/v1/endpoints/e$i/pause"
  done
}
load() {
  wrk -t2 -c32 -d"${DUR}s" --timeout 5s -s "$POST_LUA" -H "Authorization: Bearer $KEY" "$B/v1/responses" \
    | awk '/Requests\/sec/ {printf "%s req/s", $2}'
  curl -s "$B/metrics" -H "Authorization: Bearer $KEY" | \
    awk '/^cxd_webhook_pending / {p=$2} /outcome="delivered"/ {d=$2} END {printf "  (pending %s, delivered %s)\n", p, d}'
}
for rep in $(seq "$REPS"); do
  start; echo -n "rep $rep  0 endpoints:                      "; load; stop
  start; endpoints case.opened; echo -n "rep $rep  3 on other events (lookup only):    "; load; stop
  start; endpoints response.created pause; echo -n "rep $rep  3 subscribed, paused (3 rows):     "; load; stop
  if [[ -f $T/nginx.pid ]]; then
    start; endpoints response.created; echo -n "rep $rep  3 subscribed, active (to nginx): "; load; stop
  fi
done
