"""`[[trainings]]` in the catalog: `confide catalog check` names each problem with file, entry and field;
long lessons are split for Slack rather than refused; Markdown becomes mrkdwn."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from config.catalog import CatalogError, parse_catalog
from config.lessons import SECTION_LIMIT, lesson_pages, markdown_to_mrkdwn
from tests.conftest import EXAMPLE_CATALOG
from tests.training_support import CATALOG

ROOT = Path(__file__).parent.parent

BAD = """
[[agreements]]
id = "basics"
title = "Agreement"
version = "1"
dtsa_notice = true

[[trainings]]
id = "basics"
title = "Basics"
version = "1"
lessons = ["Fine", "  "]

[[trainings.questions]]
text = "Which?"
options = ["A", "B"]
answer = "C"

[[trainings.questions]]
text = "Long?"
options = ["%s", "short"]
answer = "short"

[[trainings.questions]]
text = "Which?"
options = ["A", "A"]
answer = "A"

[[secrets]]
id = "s"
name = "S"
owners = ["U0OWNER01"]
requires = ["nope"]
""" % ("x" * 80)


CROSS_REFERENCES = """
[[agreements]]
id = "basics"
title = "Agreement"
version = "1"
dtsa_notice = true

[[trainings]]
id = "basics"
title = "Basics"
version = "1"
lessons = ["Fine"]

[[trainings.questions]]
text = "Which?"
options = ["A", "B"]
answer = "A"

[[trainings.questions]]
text = "Other?"
options = ["A", "B"]
answer = "B"

[[secrets]]
id = "s"
name = "S"
owners = ["U0OWNER01"]
requires = ["basics", "nope"]
"""


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "catalog", "check", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_catalog_check_names_each_training_problem(tmp_path: Path):
    path = tmp_path / "catalog.toml"
    path.write_text(BAD)
    result = check(path)
    assert result.returncode == 1
    out = result.stdout
    where = f"{path}: trainings[0] (id 'basics')"
    assert f"{where}: lessons: lessons[1] is empty" in out
    assert f"{where}: questions[0]: answer: 'C' is not one of its options" in out
    assert (
        f"{where}: questions[1]: options: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'… is longer than the 75 characters"
        in out
    )
    assert f"{where}: questions[2]: options: 'A' is listed twice" in out

    # Once the entries themselves are valid, the cross-references are checked.
    path.write_text(CROSS_REFERENCES)
    out = check(path).stdout
    assert f"{path}: trainings[0] (id 'basics'): id: duplicate of agreements[0]" in out
    assert f"{path}: secrets[0] (id 's'): requires: unknown agreement 'nope' (no agreement or training" in out
    path.write_text(CROSS_REFERENCES.replace('text = "Other?"', 'text = "Which?"'))
    out = check(path).stdout
    assert f"{path}: trainings[0] (id 'basics'): questions[1]: text: the same question as questions[0]" in out


def test_the_example_catalog_ships_a_realistic_training():
    catalog = parse_catalog(tomllib.loads(EXAMPLE_CATALOG.read_text()))
    [training] = catalog.trainings
    assert training.title == "Handling trade secrets"
    assert (len(training.lessons), len(training.questions), training.pass_mark) == (5, 5, 4)
    assert check(EXAMPLE_CATALOG).returncode == 0


def test_a_secret_may_require_a_training():
    catalog = parse_catalog(tomllib.loads(CATALOG))
    assert catalog.secret("recipe").requires == ["basics"]  # type: ignore[union-attr]


def test_long_lessons_are_split_into_sections_and_pages_not_refused():
    paragraph = "Keep it in the approved systems. " * 40  # ~1300 characters
    lesson = "\n\n".join([paragraph] * 30) + "\n\n" + "q" * 7000  # and one unbreakable run
    pages = lesson_pages(["short", lesson])
    assert pages[0].sections == ("short",)
    long_pages = pages[1:]
    assert len(long_pages) > 1 and {p.parts for p in long_pages} == {len(long_pages)}
    sections = [s for p in long_pages for s in p.sections]
    assert all(len(s) <= SECTION_LIMIT for s in sections)
    assert "".join(sections).count("q") == 7000  # nothing lost
    assert all(len(p.sections) <= 5 for p in long_pages)

    raw = tomllib.loads(CATALOG)
    raw["trainings"][0]["lessons"] = ["z" * 3000 * 5 * 51]  # more pages than a training may hold
    with pytest.raises(CatalogError) as refused:
        parse_catalog(raw, source="c.toml")
    assert (
        "c.toml: trainings[0] (id 'basics'): lessons: the lessons fill 51 pages" in refused.value.problems[0]
    )


def test_markdown_becomes_slack_mrkdwn_and_stays_escaped():
    text = markdown_to_mrkdwn(
        "## Heading\nSome **bold**, *italic*, ~~old~~ and a [link](https://intranet.example/p?a=1).\n"
        "- one\n* two\n`a <b> **c**` <script> & <!here>"
    )
    assert text.splitlines() == [
        "*Heading*",
        "Some *bold*, _italic_, ~old~ and a <https://intranet.example/p?a=1|link>.",
        "• one",
        "• two",
        "`a &lt;b&gt; **c**` &lt;script&gt; &amp; &lt;!here&gt;",
    ]
