-- One open recommendation per (transaction, action): investigating a deposit again must not add the same advice to
-- the worklist twice. A decided one (ACKNOWLEDGED/REJECTED) no longer blocks, so a new one can follow it.
-- Open duplicates made before this index keep their oldest row; the later copies say nothing new.
DELETE FROM agent_recommendations
WHERE status = 'PENDING'
  AND seq > (
    SELECT MIN(older.seq) FROM agent_recommendations AS older
    WHERE older.status = 'PENDING'
      AND older.transaction_id = agent_recommendations.transaction_id
      AND older.action = agent_recommendations.action
  );
CREATE UNIQUE INDEX agent_recommendations_open ON agent_recommendations (transaction_id, action)
    WHERE status = 'PENDING';
