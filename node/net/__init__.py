"""The network edge, the only package in troth that imports py-libp2p.

`p2p` is its front door (`P2PNode` and every name the runtime uses); behind it
`host` (transports, security, muxer), `gossip` (gossipsub tuning, validators,
scores), `sync` (the `/troth/sync/1` stream and its frames), `events` and
`errors`. See docs/libp2p.md.
"""
