-- 010: closing the loop (issue 12): webhook endpoints, rules, the outbox of deliveries,
-- follow-up cases, alert findings, and the `agent` key role.
--
-- The outbox is a table in the same database as the responses: a delivery row is written
-- in the same transaction as the response (or case change, or alert) that caused it, so
-- a response that was acknowledged always has its deliveries, whatever happens after.

-- Where events go. `secret` is the Standard Webhooks signing secret (whsec_...); during a
-- rotation the previous one signs too, until prev_secret_until (unix seconds).
CREATE TABLE endpoints (
  id                TEXT PRIMARY KEY,
  url               TEXT NOT NULL,
  description       TEXT,
  events            TEXT NOT NULL DEFAULT '[]',  -- JSON array of event types subscribed to
  surveys           TEXT,                        -- JSON array of survey ids; NULL = every survey
  secret            TEXT NOT NULL,
  prev_secret       TEXT,
  prev_secret_until INTEGER,
  state             TEXT NOT NULL DEFAULT 'active'
                    CHECK (state IN ('active', 'paused', 'disabled')),
  state_reason      TEXT,                        -- why paused or disabled, in words
  created_at        INTEGER NOT NULL,            -- unix seconds
  updated_at        INTEGER NOT NULL
);

-- A survey's rules, evaluated in `position` order for every new response. `definition`
-- is the validated rule as JSON (name, enabled, when, actions, stop).
CREATE TABLE rules (
  survey     TEXT NOT NULL,
  id         TEXT NOT NULL,
  position   INTEGER NOT NULL,
  definition TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (survey, id)
) WITHOUT ROWID;

-- The outbox: one row per (event, endpoint). `msg_id` is the webhook-id header, the same
-- on every attempt. `payload` is the exact body sent. Times in milliseconds since epoch.
-- `budget_from` is the attempt count at which the current retry schedule began (a manual
-- retry gives a dead delivery a fresh schedule without forgetting its attempts).
CREATE TABLE deliveries (
  id           INTEGER PRIMARY KEY,
  msg_id       TEXT NOT NULL UNIQUE,
  endpoint     TEXT NOT NULL,
  type         TEXT NOT NULL,
  survey       TEXT,
  customer     TEXT,                  -- for erasure
  response_id  INTEGER,
  rule         TEXT,
  case_id      INTEGER,
  payload      TEXT NOT NULL,
  state        TEXT NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  budget_from  INTEGER NOT NULL DEFAULT 0,
  next_at      INTEGER NOT NULL,      -- ms: when the next attempt is due
  created_at   INTEGER NOT NULL,      -- ms
  last_at      INTEGER,               -- ms of the last attempt
  last_status  INTEGER,               -- HTTP status of the last attempt (NULL: no answer)
  last_error   TEXT,                  -- the last failure in words
  delivered_at INTEGER                -- ms
);
CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_endpoint ON deliveries(endpoint, id);
CREATE INDEX deliveries_by_customer ON deliveries(customer) WHERE customer IS NOT NULL;
CREATE INDEX deliveries_by_response ON deliveries(response_id) WHERE response_id IS NOT NULL;

CREATE TABLE delivery_attempts (
  delivery    INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
  n           INTEGER NOT NULL,       -- 1, 2, ...
  at          INTEGER NOT NULL,       -- ms
  duration_ms INTEGER,
  status      INTEGER,                -- HTTP status, NULL when there was no answer
  error       TEXT,
  PRIMARY KEY (delivery, n)
) WITHOUT ROWID;

-- Follow-up cases. At most one case per (survey, rule, customer) that is not closed.
-- Times in unix seconds.
CREATE TABLE cases (
  id               INTEGER PRIMARY KEY,
  survey           TEXT NOT NULL,
  rule             TEXT NOT NULL,
  response_id      INTEGER,
  customer         TEXT,
  stage            TEXT NOT NULL,
  touchpoint       TEXT NOT NULL,
  channel          TEXT,
  segment          TEXT,
  status           TEXT NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'contacted', 'resolved', 'closed')),
  assignee         TEXT,
  root_cause       TEXT,
  opened_at        INTEGER NOT NULL,
  first_contact_at INTEGER,
  resolved_at      INTEGER,
  closed_at        INTEGER,
  updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX cases_one_open ON cases(survey, rule, customer)
  WHERE status <> 'closed' AND customer IS NOT NULL;
CREATE INDEX cases_by_status ON cases(status, opened_at);
CREATE INDEX cases_by_survey ON cases(survey, stage, touchpoint, opened_at);
CREATE INDEX cases_by_customer ON cases(customer) WHERE customer IS NOT NULL;

-- A case's history: every change and note, in order.
CREATE TABLE case_events (
  case_id    INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  at         INTEGER NOT NULL,        -- unix seconds
  actor      TEXT,                    -- key id, or 'rule:<id>' / 'system'
  kind       TEXT NOT NULL,           -- opened, status, assignee, root_cause, note
  from_value TEXT,
  to_value   TEXT,
  note       TEXT,
  PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;

-- Alerts already sent, so each finding is emitted once per cooldown.
-- key: "<type>|<survey>|<stage>|<touchpoint>|<metric>".
CREATE TABLE alert_findings (
  key        TEXT PRIMARY KEY,
  type       TEXT NOT NULL,
  survey     TEXT NOT NULL,
  detail     TEXT NOT NULL,           -- the emitted event's data, JSON
  first_at   INTEGER NOT NULL,        -- unix seconds
  last_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- The `agent` role (reads, and works follow-up cases). SQLite cannot change a CHECK, so
-- the keys table is rebuilt.
CREATE TABLE api_keys_v10 (
  id         TEXT PRIMARY KEY,
  role       TEXT NOT NULL CHECK (role IN ('ingest', 'read', 'agent', 'admin')),
  surveys    TEXT,
  label      TEXT,
  hash       BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
INSERT INTO api_keys_v10(id, role, surveys, label, hash, created_at)
  SELECT id, role, surveys, label, hash, created_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_v10 RENAME TO api_keys;
