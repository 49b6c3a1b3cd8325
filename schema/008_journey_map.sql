-- 008: each survey's journey map. Per stage the touchpoints responses may name (declared
-- in the definition, or learned: added by a keyed client's response while the survey has
-- open_touchpoints), and optionally the channels and segments they may name (JSON arrays;
-- NULL = any). At most 500 touchpoints per survey (CX_TOUCHPOINTS_MAX).
-- Existing surveys get their map from the labels already stored, most answered first and
-- capped at 500 per survey; they become open_touchpoints so keyed clients keep working.
ALTER TABLE surveys ADD COLUMN open_touchpoints INTEGER NOT NULL DEFAULT 1;
ALTER TABLE surveys ADD COLUMN channels TEXT;
ALTER TABLE surveys ADD COLUMN segments TEXT;

CREATE TABLE survey_touchpoints (
  survey     TEXT NOT NULL,
  stage      TEXT NOT NULL,
  touchpoint TEXT NOT NULL,
  declared   INTEGER NOT NULL,          -- 1 = in the definition, 0 = learned at ingest
  position   INTEGER NOT NULL,          -- map order within the survey
  PRIMARY KEY (survey, stage, touchpoint)
) WITHOUT ROWID;

INSERT INTO survey_touchpoints(survey, stage, touchpoint, declared, position)
SELECT survey, stage, touchpoint, 0, rank
FROM (SELECT survey, stage, touchpoint,
             row_number() OVER (PARTITION BY survey ORDER BY sum(responses) DESC,
                                stage, touchpoint) AS rank
      FROM rollups_month GROUP BY survey, stage, touchpoint)
WHERE rank <= 500;
