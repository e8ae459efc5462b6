"""A chapter's papermill parameters, checked where they enter.

papermill's ``-p name value`` passes a list as a string (``-p photos '["chelsea"]'`` gives the
string ``'["chelsea"]'``) and a single number as a number; ``-y 'photos: [chelsea]'`` passes
YAML and keeps lists. :func:`as_list` accepts a list, or a string that reads as a JSON or YAML
list, and refuses anything else with a message that shows the ``-y`` form.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["as_list"]


def _yaml_list(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # papermill depends on PyYAML; absent where papermill is

        return yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - any parse failure is "not a list"
        return None


def as_list(value: Any, name: str, item: type | tuple[type, ...] = object) -> list:
    """``value`` as a list of ``item``; a string holding a JSON or YAML list is parsed.

    Raises ``TypeError`` naming ``name``, what it got, and the papermill ``-y`` form.
    """
    parsed = _yaml_list(value) if isinstance(value, str) else value
    if isinstance(parsed, tuple):
        parsed = list(parsed)
    example = f"[{parsed}]" if isinstance(parsed, (int, float, str)) else "[...]"
    hint = f"pass a list, e.g. papermill ... -y '{name}: {example}'"
    if not isinstance(parsed, list):
        raise TypeError(f"{name} must be a list, got {value!r}; {hint}")
    bad = [v for v in parsed if isinstance(v, bool) or not isinstance(v, item)]
    if bad:
        kind = item.__name__ if isinstance(item, type) else " or ".join(t.__name__ for t in item)
        raise TypeError(f"{name} must be a list of {kind}, got {value!r}; {hint}")
    return parsed
