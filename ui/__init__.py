"""The app's shared Streamlit layer: cached resources, URL state, form builder, charts, page sections.

Pages stay short scripts (read widgets → call core → render); everything they share lives here.
Importing ``ui`` must not import pymc or jax (the catalogue renders before any model is built).
"""
