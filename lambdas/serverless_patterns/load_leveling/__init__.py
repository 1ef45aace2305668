"""Queue-based load leveling: the write request contract and the consumer's pacing."""
