"""The functional core: exact units, books, fees, detection, sizing, risk, sagas (no I/O).

Importing the package decides whether the hot modules (books, fees, sizing, detection, the
gate, the replay's row loop) come from the mypyc-compiled build or from these sources
(:mod:`arbiter.core.native`, ADR 0155); :func:`compiled` says which, and why.
"""

from arbiter.core.native import CoreBuild, compiled, install

install(__path__[0])

__all__ = ["CoreBuild", "compiled"]
