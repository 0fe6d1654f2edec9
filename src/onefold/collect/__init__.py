"""Real-time collection: the Segment-compatible HTTP API's messages, keys and store."""
