"""The refund agent: intake of the plant's requests into the ledger, the governed worker that refunds deposits,
the operator's ledger view with its masking, and process-once's idempotency keys."""
