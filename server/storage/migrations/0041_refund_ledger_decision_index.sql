-- The ledger's decision filter walks newest first by the keyset, like the status filter.
CREATE INDEX refund_requests_decision ON refund_requests (decision, entry_id);
