"""The web layer and the templates name job states (`ImportStatus.CANCELLED`), never "cancelled":
a misspelt name fails when the module or template runs, a misspelt string just never matches."""

from __future__ import annotations

import pytest
from jinja2 import Environment, nodes

from tests.models.test_job_statuses import APP, STATES, STATUS_NAMES, states_as_text

TEMPLATES = APP.parent / "templates"


def _names_a_status(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Getattr):
        return node.attr in STATUS_NAMES
    return isinstance(node, nodes.Name) and node.name in STATUS_NAMES


def _literal_states(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Const):
        return node.value in STATES
    if isinstance(node, nodes.Tuple | nodes.List):
        return any(_literal_states(item) for item in node.items)
    return False


def template_states_as_text(source: str) -> list[int]:
    """The lines where a template compares a job's state to a string: `job.status == 'failed'`,
    `in ('pending', ...)`, `is equalto 'draft'` or `rejectattr('status', 'equalto', 'draft')`."""
    found = []
    for node in Environment().parse(source).find_all((nodes.Compare, nodes.Test, nodes.Filter)):
        if isinstance(node, nodes.Compare):
            sides = [node.expr, *(operand.expr for operand in node.ops)]
        elif isinstance(node, nodes.Test):  # `job.status is equalto 'draft'`
            sides = [node.node, *node.args] if node.node is not None else []
        elif node.name in ("selectattr", "rejectattr") and node.args:
            attribute = node.args[0]  # `rejectattr('status', 'equalto', 'draft')`
            named = isinstance(attribute, nodes.Const) and attribute.value in STATUS_NAMES
            sides = [nodes.Name("status", "load"), *node.args[1:]] if named else []
        else:
            continue
        if any(map(_names_a_status, sides)) and any(map(_literal_states, sides)):
            found.append(node.lineno)
    return found


def test_web_modules_compare_and_set_job_states_by_name() -> None:
    found = [
        f"{path.relative_to(APP)}:{line}"
        for path in sorted((APP / "web").rglob("*.py"))
        for line in states_as_text(path.read_text())
    ]
    assert found == []


def test_templates_compare_job_states_by_name() -> None:
    found = [
        f"{path.relative_to(TEMPLATES)}:{line}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for line in template_states_as_text(path.read_text())
    ]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "{% if job.status == 'failed' %}{% endif %}",
        "{% if item.rollback_status in ('pending', 'processing') %}{% endif %}",
        "{% if 'draft' != job.status %}{% endif %}",
        "{% if job.dry_run_status is equalto 'failed' %}{% endif %}",
        "{{ jobs | rejectattr('status', 'equalto', 'draft') | list }}",
    ],
)
def test_a_state_written_as_text_in_a_template_is_found(source: str) -> None:
    assert template_states_as_text(source) == [1]


@pytest.mark.parametrize(
    "source",
    [
        "{% if job.status == ImportStatus.FAILED %}{% endif %}",
        "{{ jobs | rejectattr('status', 'equalto', ImportStatus.DRAFT) | list }}",
        "{{ 'expired' if expired else job.status }}",
        "{% if options.new_contact_status == 'subscribed' %}{% endif %}",
    ],
)
def test_a_state_by_name_or_other_text_is_not_flagged(source: str) -> None:
    assert template_states_as_text(source) == []


def test_a_state_written_as_text_in_a_web_module_is_found() -> None:
    source = 'if job.status == "draft":\n    job.rollback_status = "pending"\n'
    assert states_as_text(source) == [1, 2]
