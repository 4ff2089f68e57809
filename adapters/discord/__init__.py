"""The Discord adapter: /arxiv slash commands, embed cards with summary threads, saving by reaction."""
