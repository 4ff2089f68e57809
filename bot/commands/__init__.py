"""The /arxiv commands: one table of commands, their parser, and the service that runs them."""
