"""The HTTP gateway: authenticated webhooks in, contract-checked events onto Kafka.

Depends on `events` (the contract) and the Kafka client settings, never on the
stream processor; nothing in `events` or `projections` depends on it.
"""
