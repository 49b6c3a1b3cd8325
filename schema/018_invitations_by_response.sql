-- 018: an answer's comment marks its invitation (src/store_answers.c:
-- UPDATE invitations SET commented = 1 WHERE response_id = ?1), which read every
-- invitation without an index on the response it made. Only answered invitations have one.
CREATE INDEX invitations_response ON invitations(response_id) WHERE response_id IS NOT NULL;
