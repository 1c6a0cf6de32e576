"""Catalogue: every registered model as a card, broken configs in an error panel, details in a dialog."""

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
st.caption(f"{len(shown)} of {len(entries)} models · **Details** shows a model's definition, inputs, priors and graph.")
if not shown:
    st.info("No model matches the filters.")
for start in range(0, len(shown), 2):  # two cards a row, read row by row
    for column, entry in zip(st.columns(2), shown[start:start + 2]):
        with column:
            catalogue.render_card(entry)
requested = catalogue.details_requested_by_url(reg.model_ids())
if requested and selected == requested:
    catalogue.show_details(reg.get_model_metadata(requested))
