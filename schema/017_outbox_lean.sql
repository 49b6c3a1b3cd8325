-- 017: fewer index entries per webhook delivery (issue 14). Every response with the loop
-- active writes about 2.4 deliveries in its own transaction, on the single writer, and
-- every delivery then changes its row once more when it is sent: each secondary index is
-- paid for on both sides. Two of them bought nothing:
--   * msg_id UNIQUE: no query looks a delivery up by its webhook-id; the id is 16 random
--     characters (95 bits) after the time, so it is unique without an index checking it
--     (the index was a B-tree entry of 28 bytes per delivery, written in the response's
--     transaction).
--   * deliveries_due (next_at, pending): since 012 the worker looks for due deliveries
--     one endpoint at a time through deliveries_due_by_endpoint; the count of pending
--     deliveries (metrics) uses that one as well.
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt with every row, pending
-- or not, and the attempts are kept: they are copied aside first, because with foreign
-- keys on, dropping `deliveries` deletes its rows and their attempts (ON DELETE CASCADE).
CREATE TABLE deliveries_v18 (
  id           INTEGER PRIMARY KEY,
  msg_id       TEXT NOT NULL,         -- the webhook-id; not an index (see above)
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
INSERT INTO deliveries_v18(id, msg_id, endpoint, type, survey, customer, response_id, rule,
                           case_id, payload, state, attempts, budget_from, next_at,
                           created_at, last_at, last_status, last_error, delivered_at)
  SELECT id, msg_id, endpoint, type, survey, customer, response_id, rule, case_id, payload,
         state, attempts, budget_from, next_at, created_at, last_at, last_status, last_error,
         delivered_at FROM deliveries ORDER BY id;
CREATE TABLE delivery_attempts_v18 AS SELECT * FROM delivery_attempts;
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
ALTER TABLE deliveries_v18 RENAME TO deliveries;
CREATE TABLE delivery_attempts (
  delivery    INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
  n           INTEGER NOT NULL,       -- 1, 2, ...
  at          INTEGER NOT NULL,       -- ms
  duration_ms INTEGER,
  status      INTEGER,                -- HTTP status, NULL when there was no answer
  error       TEXT,
  PRIMARY KEY (delivery, n)
) WITHOUT ROWID;
INSERT INTO delivery_attempts(delivery, n, at, duration_ms, status, error)
  SELECT delivery, n, at, duration_ms, status, error FROM delivery_attempts_v18;
DROP TABLE delivery_attempts_v18;
CREATE INDEX deliveries_by_endpoint ON deliveries(endpoint, id);
CREATE INDEX deliveries_due_by_endpoint ON deliveries(endpoint, next_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_customer ON deliveries(customer) WHERE customer IS NOT NULL;
CREATE INDEX deliveries_by_response ON deliveries(response_id) WHERE response_id IS NOT NULL;
