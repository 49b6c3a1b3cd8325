-- 003: idempotency keys, so a client's retry never counts twice.
-- One row per (survey, key): the response it created and a fingerprint of what was sent,
-- so the same key with a different body is told apart (409). Rows older than the
-- retention (7 days at least) are purged by the writer.
CREATE TABLE idempotency (
  survey      TEXT NOT NULL,
  key         TEXT NOT NULL,
  fingerprint INTEGER NOT NULL,
  response_id INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,       -- unix seconds
  PRIMARY KEY (survey, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_age ON idempotency(created_at);
