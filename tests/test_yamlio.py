"""cds.yamlio: the C parser gives the same data and line numbers as PyYAML's pure-Python one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cds import yamlio
from cds.paths import fhir_dir, rules_dir

KNOWLEDGE_YAML = sorted({*rules_dir().rglob("*.yaml"), *fhir_dir().rglob("*.yaml")})


def _walk(node: yaml.Node) -> list[tuple[str, int, int]]:
    out = [(node.tag, node.start_mark.line, node.start_mark.column)]
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out += _walk(key) + _walk(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            out += _walk(item)
    return out


def test_the_c_parser_is_used_where_pyyaml_has_it() -> None:
    assert yaml.__with_libyaml__, "PyYAML without libyaml: knowledge loads about 15x slower"
    assert yamlio._LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", KNOWLEDGE_YAML, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_same_data_and_marks_as_the_pure_python_parser(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    node, data = yamlio.compose_and_load(text)
    assert data == yaml.safe_load(text) == yamlio.load(text)
    expected = yaml.compose(text, Loader=yaml.SafeLoader)
    assert (node is None) == (expected is None)
    if node is not None and expected is not None:
        assert _walk(node) == _walk(expected)


def test_bad_yaml_is_a_yaml_error_with_its_line() -> None:
    with pytest.raises(yaml.YAMLError) as exc:
        yamlio.compose_and_load("id: a\nwhen: [unclosed\nthen: x\n")
    mark = getattr(exc.value, "problem_mark", None)
    assert mark is not None and mark.line >= 1


def test_an_empty_document_has_no_node_and_no_data() -> None:
    assert yamlio.compose_and_load("") == (None, None)
    assert yamlio.compose_and_load("# only a comment\n") == (None, None)
