"""The self-healing engine's pure parts (MAPE-K): health, analysis, planning, retry,
circuit breakers and knowledge. The daemon's actors wrap these; ``wtd.self_healing``
re-exports them as the public Python API."""
