"""Leadflow performance harness: `python -m bench [--quick] [--only NAME,...] [--out DIR]`.

Every measurement runs against the project's own local Apache Kafka (one broker per run),
with a fresh app id and fresh topics, so measurements never share state or offsets.
"""
