"""Model-specific views: ``ui/views/<model_id>.py`` exposes ``render(model, run) -> None``.

The predictions page calls it through ``ui.model_views.render_model_views`` below the generic
content. The module name is the registered model id, never a value taken from the URL.
"""
