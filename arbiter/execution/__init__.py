"""The Ray-free service layer: tick path and gate, saga executor, journal, risk shell, recovery,
reconciliation, feeds, warming, lifecycle guard, operator state. Used alike by the live engine
(in-process or inside Ray actors), paper trading and the backtest; it imports only ``core``,
``venues``, ``telemetry``, ``tenancy`` and ``security`` (ADR 0145)."""
