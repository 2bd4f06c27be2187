"""The live board: the guardian and signal agents, the loop that runs every agent, the one redaction layer that
builds the public views, and the status views."""
