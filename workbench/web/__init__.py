"""The web layer: the Streamlit router, navigation and what the pages share."""
