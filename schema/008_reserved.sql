-- 008: reserved for wp/map's migration (the journey map). This placeholder only keeps the
-- numbering gapless on the wp/ingest branch; the lead drops it when merging wp/map's 008.
SELECT 1;
