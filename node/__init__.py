"""troth node: the sans-IO core, the durable store, and (later) the trio + libp2p runtime."""
