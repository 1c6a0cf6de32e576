"""A model's runs as a registry (``bayes_core.artifacts`` is the public facade over the store).

- ``store``       write a run atomically, read it lazily, delete it whole
- ``refs``        run references: run id | latest | latest-converged | alias | v<model version>
- ``labels``      aliases (with history), tags, notes: ``<model_id>/registry.json``
- ``evaluation``  PSIS-LOO, LOO-PIT, held-out metrics → ``evaluation.json`` (``psis``: vectorised PSIS)
- ``compare``     settings diff, parameters side by side, ELPD table with a verdict
- ``bundle``      export a run as a zip with hashes; reproduce a new run from one
- ``history``     rows for listings, one run in full, guarded deletion, a model bound to a run
- ``cli``         ``python -m bayes_core runs ...``
"""
