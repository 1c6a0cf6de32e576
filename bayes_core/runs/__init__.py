"""Runs of a model on disk: ``store`` writes them atomically, reads them lazily and deletes them
whole; ``refs`` turns a reference ("latest", a run id) into a run id. ``bayes_core.artifacts`` is
the public facade over both.
"""
