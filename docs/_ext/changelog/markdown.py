"""Convert GitHub-flavoured Markdown (release notes) to reStructuredText.

The Markdown is parsed with markdown-it-py (CommonMark plus the GitHub
extensions: tables, strikethrough, task lists, alerts and bare-URL autolinks)
and the reStructuredText is written from the resulting syntax tree.

Supported constructs and how they are rendered:

* headings become section titles, their levels renumbered so that a level is
  never skipped (a body starting with ``###`` gets first-level sections);
  headings nested in lists or quotes become ``rubric`` directives;
* emphasis, strong emphasis and inline code map to their reST equivalents;
  reST cannot nest inline markup, so formatting nested inside another inline
  construct is flattened to its text;
* strikethrough uses the :data:`STRIKE_ROLE` role (see :func:`strike_role`);
* fenced and indented code blocks become ``code-block`` directives; an unknown
  language falls back to ``text`` so that Sphinx never warns about a lexer;
* lists (bullet, numbered, nested, task lists with a ballot box) and block
  quotes keep their structure;
* tables become ``list-table`` directives;
* GitHub alerts (``> [!NOTE]`` ...) become the matching admonitions;
* links, autolinks and bare URLs become anonymous hyperlinks; links without a
  scheme (relative links, anchors) cannot be resolved outside GitHub and are
  rendered as their text; images alone in a paragraph become ``image``
  directives, images inside text become links to the image;
* ``#123``, ``owner/repo#123`` and ``@user`` become links to GitHub;
* raw HTML is never passed through: comments, ``<script>`` and ``<style>`` are
  dropped, ``<img>`` tags of HTML blocks become images, ``<br>`` is a line
  break and every other tag is removed while the text inside it is kept;
* thematic breaks become transitions only where reST allows one (between two
  body elements of the same section), and are dropped elsewhere.

Every character that reST would otherwise read as markup is escaped.
"""

from __future__ import annotations

import dataclasses
import enum
import html.parser
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from docutils import nodes
from docutils.utils import column_width
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.gfm_autolink import gfm_autolink_plugin
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

__all__ = [
    "STRIKE_ROLE",
    "GitHubContext",
    "markdown_to_rst",
    "strike_role",
]

#: Name of the reST role that :func:`markdown_to_rst` emits for strikethrough.
STRIKE_ROLE = "changelog-strike"

#: CSS class set on the nodes produced by :func:`strike_role`.
STRIKE_CLASS = "changelog-strike"

_HEADING_ADORNMENTS = "=-~^\"'+`"
_ALERT_DIRECTIVES = {
    "NOTE": "note",
    "TIP": "tip",
    "IMPORTANT": "important",
    "WARNING": "warning",
    "CAUTION": "caution",
}
_CHECKED_BOX = "\u2611"
_UNCHECKED_BOX = "\u2610"
_INDENT = "   "
_LINK_SCHEMES = ("http://", "https://", "mailto:", "ftp://")

# An underscore between two letters or digits is never reST markup; any other
# one could end a reference name (``word_``) or start a target (``_`x```).
_TEXT_SPECIALS = re.compile(r"[\\*`|]|(?<![^\W_])_|_(?![^\W_])")
# A paragraph line starting like this would be read as an enumerated list.
_ENUMERATOR = re.compile(r"(?:\d+|[A-Za-z]|[IVXLCDMivxlcdm]+)[.)](?:\s|$)")
_REFERENCE = re.compile(
    r"(?<![\w/.@-])(?P<owner>[A-Za-z0-9][A-Za-z0-9-]{0,38})/(?P<repo>[\w.-]+)"
    r"#(?P<xnumber>\d+)(?!\w)"
    r"|(?<![\w&#/])#(?P<number>\d+)(?!\w)"
    r"|(?<![\w/.@`+-])@(?P<user>[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38})(?![\w/-])"
)
_LINK_TEXT_SPECIALS = "\\`<"
_ROLE_SPECIALS = "\\`"
_EMPHASIS_SPECIALS = "\\*`"
# Characters that reST accepts right before inline markup, and right after
# it (a subset of what docutils allows, enough for prose).
_BEFORE_MARKUP = frozenset("([{\"'-/:")
_AFTER_MARKUP = frozenset(".,;:!?)]}\"'-/")
_BR_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class GitHubContext:
    """Where GitHub references found in the Markdown point to.

    :param web_url: Root of the GitHub web site (``https://github.com``, or a
        GitHub Enterprise host), without trailing slash.
    :param repository: ``owner/repo`` that ``#123`` refers to; without it,
        ``#123`` stays plain text.
    """

    web_url: str = "https://github.com"
    repository: str | None = None

    def issue_url(self, repository: str, number: str) -> str:
        """Return the URL of issue or pull request ``number`` of ``repository``.

        GitHub redirects ``/issues/<n>`` to ``/pull/<n>`` for pull requests.
        """
        return f"{self.web_url}/{repository}/issues/{number}"

    def user_url(self, user: str) -> str:
        """Return the URL of the profile of GitHub user ``user``."""
        return f"{self.web_url}/{user}"


def markdown_to_rst(text: str, *, context: GitHubContext | None = None) -> str:
    """Convert GitHub-flavoured Markdown to reStructuredText.

    :param text: The Markdown source.
    :param context: How to link GitHub references (``#123``, ``@user``).
    :return: reStructuredText, ending with a newline unless empty. It uses the
        ``code-block`` directive and the :data:`STRIKE_ROLE` role on top of
        standard docutils constructs.
    """
    tree = SyntaxTreeNode(_parser().parse(text))
    writer = _RstWriter(context or GitHubContext())
    lines = writer.blocks(tree.children, top_level=True)
    return "\n".join(lines) + "\n" if lines else ""


def strike_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Any,
    options: dict[str, Any] | None = None,
    content: Sequence[str] = (),
) -> tuple[list[nodes.Node], list[nodes.system_message]]:
    """Docutils role rendering struck-through text.

    It produces an inline node with the :data:`STRIKE_CLASS` class, which the
    extension's stylesheet draws with a line through it. It never fails.
    """
    del name, lineno, inliner, options, content
    node = nodes.inline(rawtext, nodes.unescape(text), classes=[STRIKE_CLASS])
    return [node], []


def _parser() -> MarkdownIt:
    options = {"tasklists": True, "alerts": True}
    parser = MarkdownIt("commonmark", options)
    parser.enable("table").enable("strikethrough")
    return parser.use(gfm_autolink_plugin)


class _Kind(enum.Enum):
    TEXT = "text"
    MARKUP = "markup"
    SOFT_BREAK = "soft"
    HARD_BREAK = "hard"


@dataclasses.dataclass(frozen=True)
class _Piece:
    """A fragment of inline reST: escaped text, markup, or a line break."""

    kind: _Kind
    text: str = ""


_SOFT_BREAK = _Piece(_Kind.SOFT_BREAK)
_HARD_BREAK = _Piece(_Kind.HARD_BREAK)


def _text(value: str) -> _Piece:
    return _Piece(_Kind.TEXT, _escape_text(value))


def _markup(value: str) -> _Piece:
    return _Piece(_Kind.MARKUP, value)


def _escape_text(value: str) -> str:
    return _TEXT_SPECIALS.sub(lambda match: "\\" + match.group(), value)


def _escape_chars(value: str, chars: str) -> str:
    return "".join("\\" + char if char in chars else char for char in value)


def _is_link_target(url: str) -> bool:
    return url.lower().startswith(_LINK_SCHEMES)


def _uri_target(url: str) -> str:
    # A link target ending with "_" would be read as a reference name.
    return url[:-1] + "\\_" if url.endswith("_") else url


def _anonymous_link(text: str, url: str) -> _Piece:
    label = " ".join(text.split()) or url
    label = _escape_chars(label, _LINK_TEXT_SPECIALS)
    return _markup(f"`{label} <{_uri_target(url)}>`__")


def _lexer_name(info: str) -> str:
    words = info.split()
    if not words:
        return "text"
    try:
        get_lexer_by_name(words[0])
    except ClassNotFound:
        return "text"
    return words[0]


def _indent(lines: Iterable[str], prefix: str = _INDENT) -> list[str]:
    return [prefix + line if line else "" for line in lines]


def _plain_text(node: SyntaxTreeNode) -> str:
    """Return the visible text of an inline node, without any markup."""
    if node.type in ("text", "code_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    if node.type == "html_inline":
        return " " if _BR_TAG.fullmatch(node.content.strip()) else ""
    return "".join(_plain_text(child) for child in node.children)


class _Line:
    """Joins the pieces of one line of inline reST."""

    def __init__(self, pieces: Sequence[_Piece]) -> None:
        self.pieces = _strip_leading_space(pieces)

    def render(self) -> str:
        out: list[str] = []
        previous: _Piece | None = None
        for index, piece in enumerate(self.pieces):
            text = piece.text
            if index == 0 and piece.kind is _Kind.TEXT:
                text = _protect_line_start(text)
            if previous is not None and _needs_glue(previous, piece, out[-1]):
                # An escaped space separates markup from adjacent characters
                # without rendering anything.
                out.append("\\ ")
            out.append(text)
            previous = piece
        return "".join(out).rstrip()


def _strip_leading_space(pieces: Sequence[_Piece]) -> list[_Piece]:
    result = [piece for piece in pieces if piece.text]
    while result and result[0].kind is _Kind.TEXT:
        stripped = result[0].text.lstrip()
        if stripped:
            result[0] = _Piece(_Kind.TEXT, stripped)
            break
        result.pop(0)
    return result


def _needs_glue(previous: _Piece, piece: _Piece, before: str) -> bool:
    if piece.kind is _Kind.MARKUP:
        return not (before[-1].isspace() or before[-1] in _BEFORE_MARKUP)
    if previous.kind is _Kind.MARKUP:
        return not (piece.text[0].isspace() or piece.text[0] in _AFTER_MARKUP)
    return False


def _protect_line_start(text: str) -> str:
    """Escape the first character of a line if reST could read it as markup."""
    if not text or text.startswith("\\"):
        return text
    if not text[0].isalnum() or _ENUMERATOR.match(text):
        return "\\" + text
    return text


def _split_lines(pieces: Sequence[_Piece]) -> list[list[_Piece]]:
    lines: list[list[_Piece]] = [[]]
    for piece in pieces:
        if piece.kind in (_Kind.SOFT_BREAK, _Kind.HARD_BREAK):
            lines.append([])
            continue
        lines[-1].append(piece)
    return lines


def _protect_paragraph_end(line: str) -> str:
    # A paragraph ending with an unescaped "::" introduces a literal block.
    if not line.endswith("::"):
        return line
    before = line[:-2]
    backslashes = len(before) - len(before.rstrip("\\"))
    if backslashes % 2:
        return line
    return line[:-1] + "\\:"


def _single_line(pieces: Sequence[_Piece]) -> str:
    flat = [_Piece(_Kind.TEXT, " ") if _is_break(piece) else piece for piece in pieces]
    return _Line(flat).render()


def _is_break(piece: _Piece) -> bool:
    return piece.kind in (_Kind.SOFT_BREAK, _Kind.HARD_BREAK)


class _HtmlContent(html.parser.HTMLParser):
    """Collects the text and the images of a block of raw HTML."""

    _SKIPPED = frozenset({"script", "style", "template", "textarea"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[tuple[str, str, str]] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
            return
        if tag == "img":
            values = {key: value or "" for key, value in attrs}
            self.items.append(("image", values.get("src", ""), values.get("alt", "")))
            return
        self.items.append(("text", " ", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
            return
        self.items.append(("text", " ", ""))

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.items.append(("text", data, ""))


class _RstWriter:
    """Writes reST lines for the nodes of a markdown-it syntax tree."""

    def __init__(self, context: GitHubContext) -> None:
        self.context = context
        # Markdown levels of the enclosing headings, to renumber levels.
        self.heading_levels: list[int] = []
        self.block_handlers: dict[str, Callable[[SyntaxTreeNode, bool], list[str]]] = {
            "heading": self.heading,
            "paragraph": self.paragraph,
            "bullet_list": self.bullet_list,
            "ordered_list": self.ordered_list,
            "fence": self.code_block,
            "code_block": self.code_block,
            "blockquote": self.blockquote,
            "alert": self.alert,
            "table": self.table,
            "html_block": self.html_block,
        }
        self.inline_handlers: dict[str, Callable[[SyntaxTreeNode], list[_Piece]]] = {
            "text": self.text,
            "softbreak": lambda node: [_SOFT_BREAK],
            "hardbreak": lambda node: [_HARD_BREAK],
            "code_inline": self.code_inline,
            "em": lambda node: self.wrapped(node, "*", "*", _EMPHASIS_SPECIALS),
            "strong": lambda node: self.wrapped(node, "**", "**", _EMPHASIS_SPECIALS),
            "s": lambda node: self.wrapped(
                node, f":{STRIKE_ROLE}:`", "`", _ROLE_SPECIALS
            ),
            "link": self.link,
            "image": self.image,
            "html_inline": self.html_inline,
        }

    # Blocks -----------------------------------------------------------------

    def blocks(
        self, children: Sequence[SyntaxTreeNode], *, top_level: bool
    ) -> list[str]:
        """Render sibling blocks, separated by blank lines."""
        out: list[str] = []
        previous: str | None = None
        for index, node in enumerate(children):
            if node.type == "hr":
                lines = self.rule(children, index, previous, top_level)
            else:
                lines = self.block(node, top_level)
            if not lines:
                continue
            if _needs_separator(previous, node.type):
                # An empty comment ends the previous list or quote, so that
                # the next block is not merged into it.
                out += ["..", ""]
            out += [*lines, ""]
            previous = node.type
        return out[:-1] if out else out

    def block(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        handler = self.block_handlers.get(node.type)
        if handler is None:
            return []
        return handler(node, top_level)

    def rule(
        self,
        siblings: Sequence[SyntaxTreeNode],
        index: int,
        previous: str | None,
        top_level: bool,
    ) -> list[str]:
        # reST only allows a transition between two body elements of a section.
        following = siblings[index + 1].type if index + 1 < len(siblings) else None
        structural = (None, "heading", "hr")
        if not top_level or previous in structural or following in structural:
            return []
        return ["----"]

    def heading(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        title = _single_line(self.inline(node.children[0]))
        if not title:
            return []
        if not top_level:
            return [f".. rubric:: {title}"]
        depth = self.heading_depth(int(node.tag[1:]))
        adornment = _HEADING_ADORNMENTS[depth - 1] * max(4, column_width(title))
        return [title, adornment]

    def heading_depth(self, level: int) -> int:
        while self.heading_levels and self.heading_levels[-1] >= level:
            self.heading_levels.pop()
        self.heading_levels.append(level)
        return len(self.heading_levels)

    def paragraph(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        inline = node.children[0]
        images = self.standalone_images(inline)
        if images is not None:
            return images
        return self.paragraph_lines(self.inline(inline))

    def paragraph_lines(self, pieces: Sequence[_Piece]) -> list[str]:
        lines = [_Line(line).render() for line in _split_lines(pieces)]
        lines = [line for line in lines if line]
        if not lines:
            return []
        if any(piece.kind is _Kind.HARD_BREAK for piece in pieces):
            # Only line blocks keep line breaks in reST.
            return [f"| {line}" for line in lines]
        lines[-1] = _protect_paragraph_end(lines[-1])
        return lines

    def standalone_images(self, inline: SyntaxTreeNode) -> list[str] | None:
        """Render a paragraph made only of images as image directives."""
        significant = [
            child
            for child in inline.children
            if not (child.type == "text" and not child.content.strip())
            and child.type != "softbreak"
        ]
        images = [_image_and_target(child) for child in significant]
        if not images or any(image is None for image in images):
            return None
        lines: list[str] = []
        for image in images:
            if image is not None:
                lines += [*_image_directive(*image), ""]
        return lines[:-1]

    def bullet_list(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        lines: list[str] = []
        for item in node.children:
            lines += self.list_item(item, "- ")
        return lines

    def ordered_list(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        start = int(node.attrs.get("start", 1))
        lines: list[str] = []
        for number, item in enumerate(node.children, start=start):
            lines += self.list_item(item, f"{number}. ")
        return lines

    def list_item(self, item: SyntaxTreeNode, marker: str) -> list[str]:
        body = self.blocks(item.children, top_level=False)
        if body and item.children[0].type == "blockquote":
            # The first line of an item is never indented: an empty comment
            # lets the quote keep its indentation.
            body = ["..", "", *body]
        body = _add_checkbox(body, item)
        if not body:
            return [marker.rstrip()]
        first, *rest = body
        return [marker + first, *_indent(rest, " " * len(marker))]

    def code_block(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        code = node.content.rstrip("\n")
        if not code.strip():
            return []
        language = _lexer_name(node.info) if node.type == "fence" else "text"
        header = [f".. code-block:: {language}"]
        if language != "text":
            # Release notes often show code that does not lex cleanly; a
            # highlighting failure must not turn into a build warning.
            header.append(f"{_INDENT}:force:")
        return [*header, "", *_indent(code.split("\n"))]

    def blockquote(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        return _indent(self.blocks(node.children, top_level=False))

    def alert(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        content = [child for child in node.children if child.type != "alert_title"]
        body = self.blocks(content, top_level=False)
        if not body:
            return []
        directive = _ALERT_DIRECTIVES.get(
            str(node.meta.get("kind", "")).upper(), "note"
        )
        return [f".. {directive}::", "", *_indent(body)]

    def table(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        sections = {child.type: child for child in node.children}
        header_rows = sections["thead"].children if "thead" in sections else []
        body_rows = sections["tbody"].children if "tbody" in sections else []
        lines = [".. list-table::"]
        if header_rows:
            lines.append(f"{_INDENT}:header-rows: {len(header_rows)}")
        lines.append("")
        for row in [*header_rows, *body_rows]:
            lines += _indent(self.table_row(row))
        return lines

    def table_row(self, row: SyntaxTreeNode) -> list[str]:
        cells = [
            _single_line(self.inline(cell.children[0])) if cell.children else ""
            for cell in row.children
        ]
        first, *rest = cells
        lines = [f"* - {first}".rstrip()]
        lines += [f"  - {cell}".rstrip() for cell in rest]
        return lines

    def html_block(self, node: SyntaxTreeNode, top_level: bool) -> list[str]:
        parser = _HtmlContent()
        parser.feed(node.content)
        parser.close()
        lines: list[str] = []
        text: list[str] = []
        for kind, value, alt in [*parser.items, ("end", "", "")]:
            if kind == "text":
                text.append(value)
                continue
            lines += self.html_text(" ".join("".join(text).split()))
            text = []
            if kind == "image" and _is_link_target(value):
                lines += [*_image_directive(value, alt, None), ""]
        return lines[:-1]

    def html_text(self, text: str) -> list[str]:
        if not text:
            return []
        return [*self.paragraph_lines(self.references(text)), ""]

    # Inlines ----------------------------------------------------------------

    def inline(self, node: SyntaxTreeNode) -> list[_Piece]:
        """Render the children of an inline node as pieces of reST."""
        pieces: list[_Piece] = []
        for child in node.children:
            handler = self.inline_handlers.get(child.type)
            if handler is not None:
                pieces += handler(child)
        return pieces

    def text(self, node: SyntaxTreeNode) -> list[_Piece]:
        return self.references(node.content)

    def references(self, value: str) -> list[_Piece]:
        """Split text into escaped text and links to GitHub references."""
        pieces: list[_Piece] = []
        position = 0
        for match in _REFERENCE.finditer(value):
            url = self.reference_url(match)
            if url is None:
                continue
            pieces += [
                _text(value[position : match.start()]),
                _anonymous_link(match.group(), url),
            ]
            position = match.end()
        pieces.append(_text(value[position:]))
        return [piece for piece in pieces if piece.text]

    def reference_url(self, match: re.Match[str]) -> str | None:
        if match.group("user"):
            return self.context.user_url(match.group("user"))
        if match.group("xnumber"):
            repository = f"{match.group('owner')}/{match.group('repo')}"
            return self.context.issue_url(repository, match.group("xnumber"))
        if self.context.repository is None:
            return None
        return self.context.issue_url(self.context.repository, match.group("number"))

    def code_inline(self, node: SyntaxTreeNode) -> list[_Piece]:
        code = node.content.strip()
        if not code:
            return []
        if "`" in code or code.endswith("\\"):
            # Inline literals cannot hold these; the literal role can, as it
            # processes backslash escapes.
            return [_markup(f":literal:`{_escape_chars(code, _ROLE_SPECIALS)}`")]
        return [_markup(f"``{code}``")]

    def wrapped(
        self, node: SyntaxTreeNode, start: str, end: str, specials: str
    ) -> list[_Piece]:
        text = " ".join(_plain_text(node).split())
        if not text:
            return []
        return [_markup(f"{start}{_escape_chars(text, specials)}{end}")]

    def link(self, node: SyntaxTreeNode) -> list[_Piece]:
        url = str(node.attrs.get("href", ""))
        text = _plain_text(node)
        if not _is_link_target(url):
            return [_text(text)] if text.strip() else []
        return [_anonymous_link(text, url)]

    def image(self, node: SyntaxTreeNode) -> list[_Piece]:
        url = str(node.attrs.get("src", ""))
        alt = _plain_text(node).strip()
        if not _is_link_target(url):
            return [_text(alt)] if alt else []
        return [_anonymous_link(alt or "image", url)]

    def html_inline(self, node: SyntaxTreeNode) -> list[_Piece]:
        return [_HARD_BREAK] if _BR_TAG.fullmatch(node.content.strip()) else []


def _needs_separator(previous: str | None, current: str) -> bool:
    lists = ("bullet_list", "ordered_list")
    if current == "blockquote":
        return previous is not None
    return previous in lists and current in lists


def _add_checkbox(body: list[str], item: SyntaxTreeNode) -> list[str]:
    checked = (item.meta or {}).get("checked")
    if checked is None:
        return body
    box = _CHECKED_BOX if checked else _UNCHECKED_BOX
    starts_with_paragraph = bool(item.children) and item.children[0].type == "paragraph"
    if body and starts_with_paragraph and not body[0].startswith("| "):
        return [f"{box} {body[0]}", *body[1:]]
    return [box, "", *body] if body else [box]


def _image_and_target(node: SyntaxTreeNode) -> tuple[str, str, str | None] | None:
    """Return (source, alt text, link target) if ``node`` is a lone image."""
    if node.type == "image":
        source = str(node.attrs.get("src", ""))
        return (
            (source, _plain_text(node).strip(), None)
            if _is_link_target(source)
            else None
        )
    if node.type != "link" or len(node.children) != 1:
        return None
    image = _image_and_target(node.children[0])
    target = str(node.attrs.get("href", ""))
    if image is None or image[2] is not None or not _is_link_target(target):
        return None
    return (image[0], image[1], target)


def _image_directive(source: str, alt: str, target: str | None) -> list[str]:
    lines = [f".. image:: {source}"]
    if alt:
        lines.append(f"{_INDENT}:alt: {' '.join(alt.split())}")
    if target:
        lines.append(f"{_INDENT}:target: {_uri_target(target)}")
    return lines
