"""What a user runs: the trio runtime that drives the engine and the libp2p
node, the service (what a user may ask), the HTTP API and web page over it,
the HTTP client, the `troth` CLI and the demo."""
