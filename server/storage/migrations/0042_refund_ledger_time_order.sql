-- The ledger's pages go newest first by creation time (entry id breaking ties), so a time filter is a range of an
-- index like the status and decision filters, and a page costs the same at a million entries as at ten thousand.
-- Each index ends in the rowid (entry_id): the order of the pages.
CREATE INDEX refund_requests_created ON refund_requests (created_at);
CREATE INDEX refund_requests_status_created ON refund_requests (status, created_at);
DROP INDEX refund_requests_decision;
CREATE INDEX refund_requests_decision_created ON refund_requests (decision, created_at);
