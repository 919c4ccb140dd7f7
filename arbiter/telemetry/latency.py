"""HDR-precision latency histograms for the tick path.

Prometheus buckets are fixed and coarse: fine for alerting on "p99 above 2 ms", useless for
telling 180 µs from 240 µs. The tick path therefore also records into an HdrHistogram
(``hdrhistogram`` on PyPI): 1 ns to 60 s at 3 significant digits, i.e. every recorded value is
reproduced to within 0.1 %, in constant memory and O(1) per record. Histograms merge exactly and
encode to a compact base64 string, so per-actor histograms can be shipped and combined.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["HdrCollector", "LatencyHistogram", "LatencySummary"]

LOWEST_NS = 1
HIGHEST_NS = 60 * 10**9
SIGNIFICANT_DIGITS = 3
DEFAULT_PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    min_ns: int
    max_ns: int
    percentiles_ns: Mapping[float, int]


class LatencyHistogram:
    """Nanosecond latencies; values beyond 60 s are clamped (and counted in ``clamped``)."""

    __slots__ = ("_h", "clamped")

    def __init__(self) -> None:
        self._h = HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)
        self.clamped = 0

    def record(self, ns: int, count: int = 1) -> None:
        if ns > HIGHEST_NS:
            ns = HIGHEST_NS
            self.clamped += count
        elif ns < LOWEST_NS:
            ns = LOWEST_NS
        self._h.record_value(ns, count)

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def percentile(self, p: float) -> int:
        """Value (ns) at percentile ``p`` (0-100): the highest equivalent value of its bucket."""
        return int(self._h.get_value_at_percentile(p))

    def min(self) -> int:
        return int(self._h.get_min_value()) if self.count else 0

    def max(self) -> int:
        return int(self._h.get_max_value()) if self.count else 0

    def equivalent(self, a: int, b: int) -> bool:
        """Whether two values fall into the same HDR bucket (indistinguishable at 3 digits)."""
        return bool(self._h.values_are_equivalent(a, b))

    def merge(self, other: LatencyHistogram) -> None:
        self._h.add(other._h)
        self.clamped += other.clamped

    def reset(self) -> None:
        self._h.reset()
        self.clamped = 0

    def encode(self) -> str:
        """Compressed base64 (the standard HdrHistogram V2 encoding, readable by other HDR tools)."""
        raw = self._h.encode()
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    @staticmethod
    def decode(encoded: str) -> LatencyHistogram:
        out = LatencyHistogram()
        out._h.decode_and_add(encoded)
        return out

    def summary(self, percentiles: Iterable[float] = DEFAULT_PERCENTILES) -> LatencySummary:
        return LatencySummary(self.count, self.min(), self.max(),
                              {p: self.percentile(p) for p in percentiles})


class HdrCollector(Collector):
    """Exposes HDR percentiles as gauges ``<name>{<label>=...,quantile=...}`` plus ``<name>_count``.

    Gauges rather than a Prometheus summary because the percentiles are cumulative since start
    (or the last reset) and must not be aggregated across instances; alert on the bucketed
    histogram, read these for precision.
    """

    def __init__(self, name: str, documentation: str, label: str,
                 histograms: Mapping[str, LatencyHistogram],
                 percentiles: Iterable[float] = DEFAULT_PERCENTILES) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self.histograms = histograms
        self.percentiles = tuple(percentiles)

    def collect(self) -> Iterator[Metric]:
        q = GaugeMetricFamily(self.name, self.documentation, labels=[self.label, "quantile"])
        c = GaugeMetricFamily(f"{self.name}_count", f"{self.documentation} (samples)", labels=[self.label])
        for key, hist in sorted(self.histograms.items()):
            if not hist.count:
                continue
            for p in self.percentiles:
                q.add_metric([key, f"{p / 100:g}"], hist.percentile(p) / 1e9)
            c.add_metric([key], hist.count)
        yield q
        yield c
