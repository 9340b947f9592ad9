"""Leadflow's monitoring as code: Grafana dashboards (built here), Prometheus rules
and Alertmanager configuration (YAML beside this package)."""
