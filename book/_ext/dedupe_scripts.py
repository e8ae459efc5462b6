"""Sphinx extension: drop repeated inline scripts from each page.

Under Sphinx 7 with Jupyter Book 1, sphinx-thebe's and sphinx-togglebutton's inline scripts are
registered twice (same body, different priority), which makes the browser throw "Identifier
'THEBE_JS_URL' has already been declared" on every page. Keep the first of each.
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree) -> None:  # noqa: ARG001
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        attrs = getattr(script, "attributes", {})
        key = (str(getattr(script, "filename", script) or ""), str(attrs.get("body", "")))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
