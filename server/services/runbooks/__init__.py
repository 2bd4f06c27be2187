"""Runbook execution (contract 2): the manifest, the executor of scripts, the service that runs them once per
request id and one at a time, and the reads of their history and status."""
