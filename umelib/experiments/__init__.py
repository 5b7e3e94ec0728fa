"""The runner: :mod:`.suite` (one orchestrator for runs, seeds, methods and drop sweeps), :mod:`.jobs` (runs over
ranks), :mod:`.cache` (phase-1 weights and results), :mod:`.results` (result dicts per the JSON contract) and
:mod:`.selection` (choices made on validation). Nothing here knows the paper's tables: those live in
:mod:`umelib.paper`, which imports this package, never the reverse."""
