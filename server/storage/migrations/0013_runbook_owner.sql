-- The server process that runs a runbook (`<pid namespace>:pid:nonce`, the namespace named by host, boot id and
-- the PID namespace's inode) and its script's process group (0 while the script is being started, NULL before): a
-- run left `running` by a process that is gone (killed mid-run) is ended at once by another process of the same
-- PID namespace once its script's process group is gone too, not only once its token expires. NULL owners for runs
-- from before this column, which the token expiry still ends.
ALTER TABLE runbook_runs ADD COLUMN owner TEXT;
ALTER TABLE runbook_runs ADD COLUMN script_pgid INTEGER;
