#!/usr/bin/env bash
# System packages for the observability/control tests (issue 10): the Debian `prometheus` package,
# which ships both the `prometheus` server binary (tests/ops/observability/test_prometheus_integration.py
# runs it directly with a temp config and data dir on a free loopback port) and `promtool`
# (tests/ops/observability/test_alert_rules.py runs `promtool check rules` / `promtool test rules`).
# The tests never use the packaged service; nothing here starts it.
# Idempotent; Debian as root (CI). Python packages (grpcio*, pyjwt, python-telegram-bot, hdrhistogram,
# the OTLP exporter) come from pyproject.toml through `make venv`.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: skips prometheus-node-exporter and friends, which the tests do not need
apt-get install -y -qq --no-install-recommends prometheus
# the packaged service may have been started where an init system allows it; the tests do not use it
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
fi
command -v prometheus >/dev/null
command -v promtool >/dev/null
