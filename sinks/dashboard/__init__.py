"""The operations dashboard: a web page, its JSON API and Prometheus metrics."""
