-- 012: the delivery worker looks for due deliveries one active endpoint at a time (as many
-- as that endpoint has free slots), so a large backlog of one endpoint costs nothing when
-- another endpoint's deliveries are looked for: each look is an index range, not a walk
-- past every due row of busy endpoints.
CREATE INDEX deliveries_due_by_endpoint ON deliveries(endpoint, next_at) WHERE state = 'pending';
