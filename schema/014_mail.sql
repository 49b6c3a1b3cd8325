-- 014: invitation mail cxd sends itself (--smtp-url): one row per mail, queued in the
-- transaction that mints its invitation, sent by the mail worker (src/mail.c). Sizes are
-- those of include/cx/mail.h (CX_MAIL_*); times are unix milliseconds.
CREATE TABLE mail_outbox (
  id         INTEGER PRIMARY KEY,
  nonce      TEXT NOT NULL CHECK (length(nonce) BETWEEN 1 AND 63),  -- the invitation's
  survey     TEXT NOT NULL CHECK (length(survey) BETWEEN 1 AND 64),
  customer   TEXT NOT NULL CHECK (length(customer) BETWEEN 1 AND 256),
  to_addr    TEXT NOT NULL CHECK (length(CAST(to_addr AS BLOB)) BETWEEN 3 AND 254),
  subject    TEXT NOT NULL CHECK (length(CAST(subject AS BLOB)) <= 998),
  text_body  TEXT NOT NULL CHECK (length(CAST(text_body AS BLOB)) <= 65536),  -- '' once sent
  html_body  TEXT CHECK (length(CAST(html_body AS BLOB)) <= 524288),         -- NULL once sent
  state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
  attempts   INTEGER NOT NULL DEFAULT 0,
  next_at    INTEGER NOT NULL,             -- when a pending mail is due
  last_error TEXT,                         -- why the last attempt failed (the server's reply)
  created_at INTEGER NOT NULL,
  sent_at    INTEGER                       -- when the server accepted it
);
-- the worker's look: due pending mail, oldest first
CREATE INDEX mail_outbox_due ON mail_outbox(next_at) WHERE state = 'pending';
-- erasure
CREATE INDEX mail_outbox_customer ON mail_outbox(customer);
