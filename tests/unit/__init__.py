"""Unit tests: pure code and the core over in-memory fakes; no database, no server, no subprocess."""
