"""Model checks that need many fits: simulation-based calibration (``sbc``), stored per model
beside its runs (``store``); the ``check`` CLI group (``cli``)."""
