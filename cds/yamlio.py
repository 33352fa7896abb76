"""Reading YAML (rules, settings, tables): PyYAML's safe loader on libyaml's C parser when PyYAML
was built with it (its wheels are), else the pure-Python one.

Every process that assesses reads the knowledge's YAML at start: the pure-Python parser took about
0.25 s for the rule files alone (each composed for its line numbers and loaded again), on every
`cds check`, service worker and screening worker start. Both parsers give the same data and the
same node marks (checked over every shipped knowledge file, tests/test_yamlio.py).
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str | bytes) -> Any:
    """As `yaml.safe_load`."""
    return yaml.load(text, Loader=_LOADER)


def compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, from one parse."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()
