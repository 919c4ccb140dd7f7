"""One home for what the engine tells operators: Prometheus metrics and latency histograms, JSON
logs with redaction, OpenTelemetry saga traces (ADR 0145)."""
