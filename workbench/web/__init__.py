"""The web layer: the Streamlit router and what the thin pages in `pages/` share.

app        the router (`workbench serve` runs it); nav: the pages as objects, for links
cache      the server runtime and audio clips, cached across browser sessions
sidebar    who is working, the memory gauge and "unload models"; widgets: small shared widgets
uploads    uploaded files spooled to the store and queued; clips: audio cut for the player
pagedata   what the tables, pickers and timeline show; timing: slow page runs logged
"""
