"""The Slack adapter: slash commands, paper cards with threaded summaries, saving by reaction."""
