-- 006: API keys. Only a SHA-256 of each secret is kept; the secret is shown once, when the
-- key is created. A secret reads cxd_<id>_<random>, so the key is found by id and the
-- hash compared in constant time.
CREATE TABLE api_keys (
  id         TEXT PRIMARY KEY,
  role       TEXT NOT NULL CHECK (role IN ('ingest', 'read', 'admin')),
  surveys    TEXT,                    -- JSON array of survey ids an ingest key may post to
  label      TEXT,
  hash       BLOB NOT NULL,           -- SHA-256 of the whole secret
  created_at INTEGER NOT NULL
);
