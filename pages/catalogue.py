"""Catalogue: every registered model as a card, broken configs in an error panel, a detail view."""

import streamlit as st

from ui import nav, catalogue, state

nav.frame()
st.title("Model catalogue")
st.caption("Pick a model, read what it assumes, check its priors, then train it and use its predictions.")

reg = state.registry()
selected = state.url_model()
catalogue.render_config_problems(reg.errors)

entries = reg.get_all_models_with_status()
all_tags = sorted({t for e in entries for t in e["metadata"].tags})
search, tags, flags = st.columns([3, 3, 2], vertical_alignment="bottom")
text = search.text_input("Search", placeholder="name, description, tag…")
chosen_tags = tags.multiselect("Tags", all_tags)
show_deprecated = flags.checkbox("Show deprecated")
if flags.button("Reload configs", icon=":material/refresh:"):
    state.registry().refresh()
    st.rerun()

shown = catalogue.filter_entries(entries, show_deprecated, chosen_tags, text)
cards, detail = st.columns([3, 2], gap="large")
with cards:
    st.caption(f"{len(shown)} of {len(entries)} models")
    if not shown:
        st.info("No model matches the filters.")
    for entry in shown:
        catalogue.render_card(entry)
with detail:
    if selected:
        catalogue.render_detail(reg.get_model_metadata(selected))
    else:
        st.info("Press **Details** on a model to see its inference parameters, priors and graph.",
                icon=":material/info:")
