"""arxiv-bot core: platform-neutral fetching, scoring, storage, commands and delivery."""
