"""troth node: one agent's node, in four layers (each imports only those before it).

    node.core    pure: the sans-IO state machine (`Core`), sync, liveness
    node.store   disk: the SQLite log, the engine that keeps it and the core in
                 step, a node's home directory
    node.net     network: the one module that wraps py-libp2p
    node.app     what a user runs: the runtime (trio), service, HTTP API, web
                 page, client, CLI and demo
"""
