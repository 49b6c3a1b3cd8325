-- 011: the root causes a survey's follow-up cases may be given (issue 12, cases part):
-- a JSON array of labels (at most 32), or NULL for no list.
ALTER TABLE surveys ADD COLUMN root_causes TEXT;

-- GET /v1/cases pages newest first by (opened_at, id): an index in that order keeps a
-- page's cost at its size instead of sorting every matching case.
CREATE INDEX cases_by_opened ON cases(opened_at, id);
