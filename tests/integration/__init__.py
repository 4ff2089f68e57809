"""Integration tests: real SQLite files and PostgreSQL, local HTTP servers, the real platform libraries."""
