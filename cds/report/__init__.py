"""The clinician's HTML report of one assessment (self-contained: inline CSS and SVG, no scripts)."""

from cds.report.html import render_html

__all__ = ["render_html"]
