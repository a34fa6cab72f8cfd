"""The CLI's command groups, one module per area; `workbench.cli` assembles them."""
