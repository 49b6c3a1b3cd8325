-- 011: the root causes a survey's follow-up cases may be given (issue 12, cases part):
-- a JSON array of labels (at most 32), or NULL for no list.
ALTER TABLE surveys ADD COLUMN root_causes TEXT;
