-- 007: surveys that take responses without a key (web forms on a public page), and the
-- browser origins allowed to post to them (JSON array, NULL = none listed).
ALTER TABLE surveys ADD COLUMN public INTEGER NOT NULL DEFAULT 0;
ALTER TABLE surveys ADD COLUMN allowed_origins TEXT;
