"""SQLite storage: one connection owner, numbered migrations, one repository per table group."""
