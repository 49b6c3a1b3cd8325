-- 013: asking customers (issue 13): signed personal links, the hosted survey page,
-- fatigue rules and the response funnel.

-- The secrets personal links are signed with (HMAC-SHA256). A link names its key by
-- `kid`, so a new key can take over minting while links signed with older ones stay valid
-- until their key is deleted. Exactly one key is active (mints); cxd makes the first one
-- when it first needs it.
CREATE TABLE link_keys (
  kid        TEXT PRIMARY KEY,
  secret     BLOB NOT NULL,                 -- 32 random bytes; never leaves the server
  created_at INTEGER NOT NULL,              -- unix seconds
  active     INTEGER NOT NULL DEFAULT 0     -- 1 for the key that mints
) WITHOUT ROWID;
CREATE UNIQUE INDEX link_keys_one_active ON link_keys(active) WHERE active = 1;

-- One row per minted invitation: what the funnel counts and the fatigue rules look at.
-- A link verifies from its signature alone; this row only records what happened to it
-- (an answer to a link whose row is gone still counts: the row is made again then).
CREATE TABLE invitations (
  nonce       TEXT PRIMARY KEY,             -- the link's nonce: the answer's idempotency key
  survey      TEXT NOT NULL,
  stage       TEXT NOT NULL,
  touchpoint  TEXT NOT NULL,
  channel     TEXT,
  segment     TEXT,
  customer    TEXT NOT NULL,
  minted_at   INTEGER NOT NULL,             -- unix seconds
  expires_at  INTEGER NOT NULL,             -- unix seconds
  opened_at   INTEGER,                      -- first view of the page (unix seconds)
  answered_at INTEGER,                      -- first answer (unix seconds)
  response_id INTEGER,                      -- the response the answer made
  commented   INTEGER NOT NULL DEFAULT 0    -- 1 once the answer has a comment
) WITHOUT ROWID;
CREATE INDEX invitations_customer ON invitations(customer, minted_at);
CREATE INDEX invitations_survey ON invitations(survey, minted_at);

-- Service-wide settings as JSON values, e.g. name 'fatigue':
-- {"max_invitations": 3, "per_days": 30, "after_answer_days": 14}.
CREATE TABLE settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- A survey's hosted-page and invitation settings (cx_survey's `question`, `texts`,
-- `fatigue`, `email`), one row per survey that sets any.
CREATE TABLE survey_hosted (
  survey   TEXT PRIMARY KEY REFERENCES surveys(id),
  question TEXT NOT NULL DEFAULT 'nps',     -- the page's first question: nps, csat or ces
  texts    TEXT,                            -- JSON {"lang": {"question": ..., ...}}
  fatigue  TEXT,                            -- JSON, as the setting above
  email    TEXT                             -- JSON {"subject": ..., "body": ...}
) WITHOUT ROWID;
