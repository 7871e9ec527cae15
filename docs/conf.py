"""Sphinx configuration: the user guide, the PowerShell table and the API reference."""

project = "ipyjobs"
author = "the ipyjobs authors"
extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "none"
html_theme = "alabaster"
suppress_warnings = ["myst.header"]
