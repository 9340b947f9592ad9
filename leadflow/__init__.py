"""Leadflow: real-time B2B lead-funnel metrics from lead-lifecycle events."""

__version__ = "0.1.0"
