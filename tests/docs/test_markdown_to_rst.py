"""Tests of the GitHub-flavoured Markdown to reStructuredText converter.

Each test checks the produced reST and that docutils parses it without any
warning or error.
"""

from __future__ import annotations

import io
from typing import ClassVar

import pytest
from changelog.markdown import (
    STRIKE_ROLE,
    GitHubContext,
    markdown_to_rst,
    strike_role,
)
from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import directives, roles
from docutils.parsers.rst.directives.body import CodeBlock

CONTEXT = GitHubContext(web_url="https://github.com", repository="acme/rocket")


class _SphinxLikeCodeBlock(CodeBlock):  # type: ignore[misc,unused-ignore]
    """Docutils' ``code`` directive, accepting Sphinx's ``:force:`` flag."""

    option_spec: ClassVar[dict[str, object]] = {
        **CodeBlock.option_spec,
        "force": directives.flag,
    }


@pytest.fixture(autouse=True)
def _sphinx_constructs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The converter targets Sphinx: teach plain docutils what it emits on
    # top of standard reST, for the duration of each test.
    monkeypatch.setitem(directives._directives, "code-block", _SphinxLikeCodeBlock)
    monkeypatch.setitem(roles._roles, STRIKE_ROLE, strike_role)


def parse(rst: str) -> nodes.document:
    """Parse ``rst``, failing on any warning or error docutils reports."""
    stream = io.StringIO()
    document = publish_doctree(
        rst,
        settings_overrides={
            "report_level": 2,
            "halt_level": 5,
            "warning_stream": stream,
            "syntax_highlight": "none",
        },
    )
    assert stream.getvalue() == ""
    # Informational messages (level 1) are fine, as they are in Sphinx.
    assert not [
        message
        for message in document.findall(nodes.system_message)
        if message["level"] > 1
    ]
    assert not list(document.findall(nodes.problematic))
    return document


def convert(markdown: str) -> str:
    """Convert ``markdown``, checking that the result parses cleanly."""
    rst = markdown_to_rst(markdown, context=CONTEXT)
    parse(rst)
    return rst


def test_empty() -> None:
    assert markdown_to_rst("") == ""
    assert markdown_to_rst("<!-- only a comment -->\n") == ""


def test_headings_of_every_level() -> None:
    rst = convert("# One\n## Two\n### Three\n#### Four\n##### Five\n###### Six\n")

    assert rst == (
        "One\n====\n\nTwo\n----\n\nThree\n~~~~~\n\nFour\n^^^^\n\n"
        "Five\n\"\"\"\"\n\nSix\n''''\n"
    )


def test_heading_levels_are_renumbered_without_gaps() -> None:
    document = parse(convert("### Features\n#### Details\n## Bugs\n#### Deep\n"))

    top = [
        section[0].astext()
        for section in document.findall(nodes.section)
        if section.parent is document
    ]
    assert top == ["Features", "Bugs"]


def test_heading_with_markup() -> None:
    rst = convert("## Changes to `run()` and *jobs*\n")

    assert rst.splitlines()[0] == "Changes to ``run()`` and *jobs*"


def test_heading_inside_a_list_becomes_a_rubric() -> None:
    assert convert("- # Title\n") == "- .. rubric:: Title\n"


def test_paragraphs_and_inline_markup() -> None:
    rst = convert("Some *em*, **strong** and ~~gone~~ text.\n\nSecond paragraph.\n")

    assert rst == (
        f"Some *em*, **strong** and :{STRIKE_ROLE}:`gone` text.\n\nSecond paragraph.\n"
    )


def test_intraword_markup_is_glued_with_escaped_spaces() -> None:
    assert (
        convert("foo**bar**baz and a*b*c\n") == "foo\\ **bar**\\ baz and a\\ *b*\\ c\n"
    )


def test_nested_inline_markup_is_flattened() -> None:
    assert convert("**bold *and* em**\n") == "**bold and em**\n"


def test_underscores_and_asterisks_inside_words() -> None:
    rst = convert("snake_case_name, 2*3, word_ and _leading, foo__bar__baz\n")

    assert rst == (
        "snake_case_name, 2\\*3, word\\_ and \\_leading, foo\\_\\_bar\\_\\_baz\n"
    )


def test_markup_characters_are_escaped() -> None:
    rst = convert("a | b |sub| C:\\\\path `x` \\*not em\\* [1]\\_\n")

    assert rst == "a \\| b \\|sub\\| C:\\\\path ``x`` \\*not em\\* [1]\\_\n"


def test_text_rendered_verbatim() -> None:
    document = parse(convert("a | b |sub| foo_ *x\\* \\_\\_init\\_\\_.py `lit`_\n"))

    assert document.astext() == "a | b |sub| foo_ *x* __init__.py lit_"


@pytest.mark.parametrize(
    ("markdown", "first_line"),
    [
        (".. not a comment\n", "\\.. not a comment"),
        ("1986\\. A great year\n", "\\1986. A great year"),
        ("A. Smith wrote it\n", "\\A. Smith wrote it"),
        ("\\- not a list\n", "\\- not a list"),
        ("\\+ not a list\n", "\\+ not a list"),
        (":field: not a field list\n", "\\:field: not a field list"),
        ("\\>>> not a doctest\n", "\\>>> not a doctest"),
        ("--option not an option list\n", "\\--option not an option list"),
        ("\u2014 not an attribution\n", "\\\u2014 not an attribution"),
    ],
)
def test_line_starts_that_reST_reads_as_markup(markdown: str, first_line: str) -> None:
    rst = convert(markdown)

    assert rst.splitlines()[0] == first_line
    assert isinstance(parse(rst)[0], nodes.paragraph)


def test_punctuation_line_is_not_a_section_underline() -> None:
    document = parse(convert("Title\n\\=====\n"))

    assert not list(document.findall(nodes.section))
    assert document.astext() == "Title\n====="


@pytest.mark.parametrize(
    ("markdown", "last_line"),
    [
        ("Example::\n", "Example:\\:"),
        ("Path C:\\\\::\n", "Path C:\\\\:\\:"),
        ("\\::\n", "\\::"),
    ],
)
def test_paragraph_ending_with_double_colon_is_not_a_literal_block_marker(
    markdown: str, last_line: str
) -> None:
    rst = convert(markdown + "\n- item\n")

    assert rst.splitlines()[0] == last_line
    assert not list(parse(rst).findall(nodes.literal_block))


def test_hard_line_breaks_become_a_line_block() -> None:
    assert convert("first  \nsecond\\\nthird\n") == "| first\n| second\n| third\n"


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("`code`\n", "``code``\n"),
        ("`` a`b ``\n", ":literal:`a\\`b`\n"),
        ("```` ```fence``` ````\n", ":literal:`\\`\\`\\`fence\\`\\`\\``\n"),
        ("`C:\\`\n", ":literal:`C:\\\\`\n"),
        ("`*not* _em_ |x|`\n", "``*not* _em_ |x|``\n"),
    ],
)
def test_inline_code(markdown: str, expected: str) -> None:
    rst = convert(markdown)

    assert rst == expected
    literal = next(iter(parse(rst).findall(nodes.literal)))
    assert literal.astext() == markdown.strip().strip("`").strip()


def test_fenced_code_with_a_language() -> None:
    rst = convert("```python\nprint('hi')\n```\n")

    assert rst == ".. code-block:: python\n   :force:\n\n   print('hi')\n"


def test_fenced_code_containing_backticks() -> None:
    rst = convert("````markdown\n```python\nx = `1`\n```\n````\n")

    assert rst == (
        ".. code-block:: markdown\n   :force:\n\n   ```python\n   x = `1`\n   ```\n"
    )


def test_code_in_an_unknown_language_is_plain_text() -> None:
    assert (
        convert("```no-such-language {1}\nx\n```\n") == ".. code-block:: text\n\n   x\n"
    )


def test_indented_code_keeps_blank_lines() -> None:
    rst = convert("    one\n\n    two\n")

    assert rst == ".. code-block:: text\n\n   one\n\n   two\n"


def test_nested_lists() -> None:
    rst = convert("- one\n  - nested *a*\n    1. deep\n- two\n\n3. three\n4. four\n")

    assert rst == (
        "- one\n\n  - nested *a*\n\n    1. deep\n- two\n\n..\n\n3. three\n4. four\n"
    )
    lists = list(parse(rst).findall(nodes.enumerated_list))
    assert [item.get("start", 1) for item in lists] == [1, 3]


def test_blocks_inside_list_items() -> None:
    rst = convert(
        "- ```python\n  x = 1\n  ```\n- > quoted\n- text\n\n  > [!TIP]\n  > tip\n"
    )

    assert rst == (
        "- .. code-block:: python\n     :force:\n\n     x = 1\n"
        "- ..\n\n     quoted\n"
        "- text\n\n  .. tip::\n\n     tip\n"
    )
    items = list(parse(rst).findall(nodes.list_item))
    assert len(items) == 3
    assert isinstance(items[0][0], nodes.literal_block)


def test_loose_list_items_with_paragraphs() -> None:
    rst = convert("- first\n\n  more\n\n- second\n")

    assert rst == "- first\n\n  more\n- second\n"


def test_task_lists() -> None:
    rst = convert("- [x] done\n- [ ] to do\n")

    assert rst == "- \u2611 done\n- \u2610 to do\n"


def test_links() -> None:
    rst = convert(
        "See [the_docs](https://example.com/a_b_) and [`api`](https://x.org/api).\n"
    )

    assert rst == (
        "See `the_docs <https://example.com/a_b\\_>`__ and `api <https://x.org/api>`__.\n"
    )
    references = list(parse(rst).findall(nodes.reference))
    assert [ref["refuri"] for ref in references] == [
        "https://example.com/a_b_",
        "https://x.org/api",
    ]


def test_link_text_with_backticks_and_angle_brackets() -> None:
    rst = convert("[a `b` \\<c>](https://example.com)\n")

    reference = next(iter(parse(rst).findall(nodes.reference)))
    assert reference.astext() == "a b <c>"


def test_autolinks_and_bare_urls() -> None:
    rst = convert("<https://a.org/x> and https://b.org/y_z. And www.c.org, me@d.org\n")

    assert rst == (
        "`https://a.org/x <https://a.org/x>`__ and `https://b.org/y_z <https://b.org/y_z>`__."
        " And `www.c.org <http://www.c.org>`__, `me@d.org <mailto:me@d.org>`__\n"
    )


def test_relative_links_keep_their_text_only() -> None:
    assert convert("[docs](docs/index.md) and [here](#anchor)\n") == "docs and here\n"


def test_images() -> None:
    rst = convert(
        "![A logo](https://example.com/logo.png)\n\n"
        "[![badge](https://img.example.com/b.svg)](https://ci.example.com/a_)\n\n"
        "Inline ![shot](https://example.com/s.png) and ![local](local.png)\n"
    )

    assert rst == (
        ".. image:: https://example.com/logo.png\n   :alt: A logo\n\n"
        ".. image:: https://img.example.com/b.svg\n   :alt: badge\n   :target: https://ci.example.com/a\\_\n\n"
        "Inline `shot <https://example.com/s.png>`__ and local\n"
    )
    targets = [ref["refuri"] for ref in parse(rst).findall(nodes.reference)]
    assert targets == ["https://ci.example.com/a_", "https://example.com/s.png"]


def test_table_with_inline_code() -> None:
    rst = convert(
        "| Setting | Default |\n|:--|--:|\n| `retry` | `None` |\n| `a\\|b` | *x* |\n| empty | |\n"
    )

    assert rst == (
        ".. list-table::\n"
        "   :header-rows: 1\n\n"
        "   * - Setting\n     - Default\n"
        "   * - ``retry``\n     - ``None``\n"
        "   * - ``a|b``\n     - *x*\n"
        "   * - empty\n     -\n"
    )
    assert len(list(parse(rst).findall(nodes.row))) == 4


def test_block_quotes_are_separated_from_what_precedes_them() -> None:
    rst = convert("- item\n\n> quoted\n> text\n\n> another\n")

    assert rst == "- item\n\n..\n\n   quoted\n   text\n\n..\n\n   another\n"
    assert len(list(parse(rst).findall(nodes.block_quote))) == 2


@pytest.mark.parametrize(
    ("kind", "directive"),
    [
        ("NOTE", "note"),
        ("TIP", "tip"),
        ("IMPORTANT", "important"),
        ("WARNING", "warning"),
        ("CAUTION", "caution"),
    ],
)
def test_alerts(kind: str, directive: str) -> None:
    rst = convert(f"> [!{kind}]\n> Read **this**.\n>\n> - and this\n")

    assert rst == f".. {directive}::\n\n   Read **this**.\n\n   - and this\n"


def test_html_comments_are_dropped() -> None:
    assert (
        convert("Before <!-- hidden --> after\n\n<!--\nblock\n-->\n")
        == "Before  after\n"
    )


def test_html_tags_are_dropped_and_their_text_kept() -> None:
    rst = convert(
        "<details>\n<summary>Full *list*</summary>\n\n- item\n\n</details>\n\n"
        "Text with <b>bold</b> and <kbd>Ctrl</kbd>.\n"
    )

    assert rst == "Full \\*list\\*\n\n- item\n\nText with bold and Ctrl.\n"


def test_html_scripts_are_dropped_and_images_kept() -> None:
    rst = convert(
        '<p align="center">\n<img src="https://example.com/a.png" alt="A" width="100">\n'
        "<script>alert('x')</script>\n</p>\n"
    )

    assert rst == ".. image:: https://example.com/a.png\n   :alt: A\n"


def test_html_line_break() -> None:
    assert convert("one<br>two\n") == "| one\n| two\n"


def test_issue_pull_request_and_user_references() -> None:
    rst = convert("Fix #12 and acme/other#34 by @octo-cat, thanks @bot.\n")

    assert rst == (
        "Fix `#12 <https://github.com/acme/rocket/issues/12>`__"
        " and `acme/other#34 <https://github.com/acme/other/issues/34>`__"
        " by `@octo-cat <https://github.com/octo-cat>`__,"
        " thanks `@bot <https://github.com/bot>`__.\n"
    )


def test_references_are_not_linked_inside_code_urls_or_words() -> None:
    rst = convert(
        "`#12 @user` a@b.org https://x.org/@y/#3 [#5](https://z.org) foo#1 and@user\n"
    )

    links = [ref["refuri"] for ref in parse(rst).findall(nodes.reference)]
    assert "https://github.com/user" not in links
    assert not [link for link in links if "/issues/" in link]
    assert links[:3] == ["mailto:a@b.org", "https://x.org/@y/#3", "https://z.org"]


def test_issue_references_need_a_repository() -> None:
    assert markdown_to_rst("Fix #12\n") == "Fix #12\n"


def test_horizontal_rules_only_between_body_elements() -> None:
    rst = convert("---\n\nfirst\n\n---\n\nsecond\n\n---\n\n## Title\n\nthird\n\n---\n")

    assert rst == "first\n\n----\n\nsecond\n\nTitle\n=====\n\nthird\n"


def test_realistic_generated_notes() -> None:
    rst = convert(
        "## What's Changed\n"
        "### Breaking changes \U0001f6a8\n"
        "* Drop Python 3.8 by @ewjoachim in https://github.com/acme/rocket/pull/1021\n"
        "### Bug fixes \U0001f41b\n"
        "* Don't crash on `None` by @dependabot in https://github.com/acme/rocket/pull/1030\n"
        "\n## New Contributors\n"
        "* @first-timer made their first contribution in https://github.com/acme/rocket/pull/1022\n"
        "\n**Full Changelog**: https://github.com/acme/rocket/compare/2.0.0...2.1.0\n"
    )

    document = parse(rst)
    titles = [section[0].astext() for section in document.findall(nodes.section)]
    assert titles == [
        "What's Changed",
        "Breaking changes \U0001f6a8",
        "Bug fixes \U0001f41b",
        "New Contributors",
    ]
    assert (
        "**Full Changelog**: `https://github.com/acme/rocket/compare/2.0.0...2.1.0"
        in rst
    )
