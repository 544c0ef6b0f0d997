"""The network edge: `p2p` is the only module in troth that imports py-libp2p."""
