-- 009: idempotency keys belong to the client that sent them, not to every client of a
-- survey. `scope` is the client's namespace: 'key:<API key id>' for a keyed client,
-- 'anon:<client address>' for an anonymous one, so an anonymous client can neither claim
-- a key a keyed client will use nor learn another client's response through a replay.
-- Rows recorded before this migration have scope '' (client unknown): a keyed client's
-- identical retry still replays them, so a retry that spans the upgrade is not stored
-- twice, but they never cause a 409 (they expire within the 8-day retention). SQLite
-- cannot change a primary key, so the table is rebuilt.
CREATE TABLE idempotency_scoped (
  survey      TEXT NOT NULL,
  scope       TEXT NOT NULL DEFAULT '',
  key         TEXT NOT NULL,
  fingerprint INTEGER NOT NULL,
  response_id INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,       -- unix seconds
  PRIMARY KEY (survey, scope, key)
) WITHOUT ROWID;
INSERT INTO idempotency_scoped(survey, scope, key, fingerprint, response_id, created_at)
  SELECT survey, '', key, fingerprint, response_id, created_at FROM idempotency;
DROP TABLE idempotency;
ALTER TABLE idempotency_scoped RENAME TO idempotency;
CREATE INDEX idempotency_age ON idempotency(created_at);
