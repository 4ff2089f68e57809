"""Signal capture: what a channel's people tell the learned ranking (likes, imports), and reading libraries."""
