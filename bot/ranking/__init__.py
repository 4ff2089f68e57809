"""Ranking: which of a day's papers each channel gets, and in what order."""
