"""Developer tooling: the local Kafka broker, the synthetic event generator and the demo.

Not part of a deployment: workers and the gateway never import it. The `leadflow`
command exposes each module as a subcommand (`leadflow broker`, `generate`, `demo`).
"""
