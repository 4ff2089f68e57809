"""Summarizers: the language-model summarizer and the ones that need no model."""
