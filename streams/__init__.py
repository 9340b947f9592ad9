"""The streaming edge: Faust app, agents, topics, tables and the metrics endpoint."""
