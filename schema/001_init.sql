-- 001: surveys and the raw responses, exactly as they were sent.
CREATE TABLE surveys (
  id            TEXT PRIMARY KEY,
  title         TEXT NOT NULL,
  stages        TEXT NOT NULL,          -- JSON array of stage names, in journey order
  thank_you_url TEXT,
  created_at    INTEGER NOT NULL,       -- unix seconds
  updated_at    INTEGER NOT NULL
);

CREATE TABLE responses (
  id           INTEGER PRIMARY KEY,
  survey       TEXT NOT NULL REFERENCES surveys(id),
  stage        TEXT NOT NULL,
  touchpoint   TEXT NOT NULL,
  channel      TEXT,
  segment      TEXT,
  customer     TEXT,
  nps          INTEGER CHECK (nps BETWEEN 0 AND 10),
  csat         INTEGER CHECK (csat BETWEEN 1 AND 5),
  ces          INTEGER CHECK (ces BETWEEN 1 AND 7),
  comment      TEXT,
  attributes   TEXT,                    -- JSON object of strings, or NULL
  submitted_at INTEGER NOT NULL,        -- unix seconds (client's, or received_at)
  received_at  INTEGER NOT NULL         -- unix milliseconds
);
CREATE INDEX responses_survey_time ON responses(survey, submitted_at);
CREATE INDEX responses_customer ON responses(customer) WHERE customer IS NOT NULL;
