"""End-to-end tests: the arxiv-bot command line as a subprocess."""
