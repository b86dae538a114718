"""Sphinx configuration of the Procrastinate documentation.

The build needs no network: there is no intersphinx, the changelog extension falls back
to an offline note when GitHub cannot be reached, and the CLI reference runs the
``procrastinate`` command of the interpreter that runs Sphinx.
"""

from __future__ import annotations

import datetime
import importlib
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))

# Our own Sphinx extensions (the changelog) live next to this file.
sys.path.insert(0, os.path.join(HERE, "_ext"))
# The package is usually installed in the environment; this makes a checkout work too.
sys.path.insert(1, os.path.dirname(HERE))

# ``program-output`` runs ``python -m procrastinate ...`` through the PATH: make
# ``python`` the interpreter running Sphinx (the project's environment), even when the
# environment is not activated (scripts/docs calls .venv/bin/sphinx-build directly).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
# The CLI's help shows the defaults it reads from PROCRASTINATE_* variables: the
# reference must show the real defaults, not those of whoever builds the docs. A fixed
# width keeps the help text identical from one machine to the next.
for _variable in [name for name in os.environ if name.startswith("PROCRASTINATE_")]:
    del os.environ[_variable]
os.environ["COLUMNS"] = "80"
os.environ.pop("FORCE_COLOR", None)
os.environ["NO_COLOR"] = "1"

# -- Project ---------------------------------------------------------------------------

project = "Procrastinate"
author = "Procrastinate contributors"
copyright = f"{datetime.date.today().year}, {author}"

try:
    release = importlib.import_module("procrastinate").__version__
except ImportError:  # pragma: no cover - the package is a dependency of the docs
    release = ""
version = release

# -- General ---------------------------------------------------------------------------

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinxcontrib.programoutput",
    "sphinx_copybutton",
    "notfound.extension",
    "sphinx_reredirects",
    "sphinxext.opengraph",
    "changelog",
    "api_reference",
    "sitewide",
]

exclude_patterns = ["_build"]
templates_path = ["_templates"]

# Every cross-reference must resolve: a broken link is a build error (-n -W).
nitpicky = True

# -- MyST --------------------------------------------------------------------------------

myst_enable_extensions = ["colon_fence", "deflist", "tasklist"]
# Headings down to ### get an anchor, so that pages can link to [a section](#a-section).
myst_heading_anchors = 3

# -- autodoc ---------------------------------------------------------------------------

# Types go into the parameter list, where they sit next to their explanation, rather
# than into signatures that would run over several lines.
autodoc_typehints = "description"
# Members appear in the order of the source, which groups them by theme (sync and async
# variants side by side), rather than alphabetically.
autodoc_member_order = "bysource"
# Our classes document their constructor parameters in the class docstring and leave
# ``__init__`` undocumented: "class" shows each explanation once, where readers look.
autoclass_content = "class"
autodoc_default_options = {"show-inheritance": True}
# Without intersphinx (it downloads inventories, and the build must work offline), names
# from the standard library and from third-party packages cannot be linked. They stay
# readable as plain text; these patterns keep the strict build from failing on them.
# Names of procrastinate itself are NOT ignored: those must resolve (see
# ``_resolve_short_reference`` below for the names docstrings write in short).
nitpick_ignore_regex = [
    # The standard library.
    (
        r"py:.*",
        r"~?(collections\.abc|datetime|json|logging|asyncio|enum|types|typing"
        r"|typing_extensions|inspect|functools|contextlib|pathlib|argparse|cmd"
        r"|importlib|threading)(\..*)?",
    ),
    (r"py:.*", r"~?(Callable|Iterable|Iterator|Awaitable|Sequence|Coroutine)"),
    (r"py:.*", r"~?(Generator|TracebackType|TypeAlias|TypedDict|NotRequired|Unpack)"),
    (r"py:.*", r"~?(Literal|Concatenate|ParamSpec)"),
    # Type variables of generic signatures (``Task[P, R, Args]``): not objects.
    (r"py:.*", r"~?(procrastinate\.[\w.]+\.)?(P|R|T|U|Args)(\.(args|kwargs))?"),
    # Third-party packages.
    (
        r"py:.*",
        r"~?(psycopg|psycopg_pool|psycopg2|asgiref|attr|attrs|croniter|dateutil"
        r"|aiopg|sqlalchemy|sphinx|docutils|django|django_tasks)(\..*)?",
    ),
    # Django's task API, as the django.tasks backend names it (the classes of
    # django.tasks or of the backport, whichever is installed).
    (
        r"py:.*",
        r"~?(api\.)?(AnyTask|AnyTaskResult|InvalidTask|InvalidTaskBackend"
        r"|TaskResultDoesNotExist)",
    ),
    # Django's connection class, annotated by its bare name (imported for type checkers).
    (r"py:.*", r"~?BaseDatabaseWrapper"),
    # Private helpers that appear in signatures; the pages describe them in words.
    (r"py:.*", r"~?(procrastinate\.)?(psycopg_common\.)?JSON(Dumps|Loads)"),
    (r"py:.*", r"~?(procrastinate\.)?(types\.)?(JSONDict|JSONValue|TimeDeltaParams)"),
    (r"py:.*", r"~?(procrastinate\.)?(utils\.)?AwaitableContext"),
    (r"py:.*", r"~?(procrastinate\.)?(testing\.)?Row"),
]

# -- HTML (furo) -----------------------------------------------------------------------

html_theme = "furo"
# The version shows in the title of every page, and under the logo (see
# ``_templates/sidebar/version.html``).
html_title = f"Procrastinate {release}" if release else "Procrastinate"
html_sidebars = {
    "**": [
        "sidebar/brand.html",
        "sidebar/version.html",
        "sidebar/search.html",
        "sidebar/scroll-start.html",
        "sidebar/navigation.html",
        "sidebar/scroll-end.html",
    ]
}
html_static_path = ["_static"]
html_css_files = ["procrastinate.css"]
html_logo = "_static/logo.svg"
html_favicon = "_static/favicon.svg"
html_copy_source = False
# The guides come before the API reference in search results.
html_search_scorer = os.path.join(HERE, "_static", "search_scorer.js")
html_theme_options = {
    "source_repository": "https://github.com/procrastinate-org/procrastinate/",
    "source_branch": "main",
    "source_directory": "docs/",
    "sidebar_hide_name": True,
    "light_css_variables": {
        "color-brand-primary": "#c8350d",
        "color-brand-content": "#b02e0b",
        "color-brand-visited": "#8f2a10",
    },
    "dark_css_variables": {
        "color-brand-primary": "#ff8a5c",
        "color-brand-content": "#ffa07a",
        "color-brand-visited": "#e9967a",
    },
}
pygments_style = "friendly"
pygments_dark_style = "monokai"

# Where the site is published: the Open Graph tags and the 404 page need absolute URLs.
# ReadTheDocs gives the URL of the version being built.
html_baseurl = os.environ.get(
    "READTHEDOCS_CANONICAL_URL", "https://procrastinate.readthedocs.io/en/stable/"
)

# -- Diagrams (sphinx.ext.graphviz) ---------------------------------------------------

# Drawn at build time by Graphviz's ``dot`` (Debian's ``graphviz`` package, installed
# by scripts/bootstrap when it runs as root): SVG, so they stay sharp and their text
# can be searched and copied.
graphviz_output_format = "svg"
graphviz_dot_args = [
    "-Gfontname=sans-serif",
    "-Nfontname=sans-serif",
    "-Efontname=sans-serif",
    "-Gbgcolor=transparent",
]

# -- 404 page (sphinx-notfound-page) ---------------------------------------------------

# The 404 page is served at any missing address: its links and assets are absolute,
# under the path of the published version.
notfound_urls_prefix = "/" + html_baseurl.split("://", 1)[-1].partition("/")[2]

# -- Redirects of renamed pages (sphinx-reredirects) -------------------------------------

# Pages of procrastinate 3.x's site that live elsewhere here: the old addresses lead
# to the new pages (a small HTML page each, no server configuration).
redirects = {
    "howto_index": "howto/index.html",
    "reference": "reference/api.html",
    "howto/django/models": "models_and_admin.html",
    "howto/django/related": "related_libraries.html",
}

# -- Open Graph (sphinxext-opengraph) ---------------------------------------------------

# A link to a page, pasted in a chat or a social network, shows its title and first
# sentence. No generated images: that would need matplotlib, and the logo is enough.
ogp_site_url = html_baseurl
ogp_site_name = "Procrastinate"
ogp_image = html_baseurl + "_static/logo.svg"
ogp_social_cards = {"enable": False}

# -- sphinx-copybutton -----------------------------------------------------------------

# Copy the commands of console examples without their prompt nor their output.
copybutton_prompt_text = r"\$ |procrastinate> |>>> |\.\.\. "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True

# -- programoutput ---------------------------------------------------------------------

programoutput_use_ansi = False

# -- Changelog (docs/_ext/changelog) ----------------------------------------------------

# The GitHub token comes from CHANGELOG_GITHUB_TOKEN (or GITHUB_TOKEN) by itself. Local
# and CI builds show an offline note when GitHub cannot be reached; a release build on
# ReadTheDocs must render the real changelog, so it fails instead.
changelog_fail_on_fetch_error = (
    os.environ.get("READTHEDOCS") == "True"
    and os.environ.get("READTHEDOCS_VERSION_TYPE") == "tag"
)


# -- Cross-references written in the code's docstrings ----------------------------------


def _resolve_short_reference(
    app: Any, env: Any, node: Any, contnode: Any
) -> Any | None:
    """
    Docstrings and annotations name objects the way the code sees them
    (``Task.configure``, ``jobs.Job``, ``app_module.App`` for a module imported under
    an alias, ``App.add_tasks_from`` for an inherited method), while the reference
    documents them under their public path. Resolve such a name when it designates
    exactly one documented object.
    """
    if node.get("refdomain") != "py":
        return None
    target: str = node.get("reftarget", "").lstrip("~")
    if not target:
        return None
    domain = env.get_domain("py")
    candidates = _module_alias_matches(domain, target)
    if not candidates:
        candidates = _suffix_matches(domain, target)
    if not candidates and "." in target:
        candidates = _inherited_matches(domain, target)
    if len(candidates) != 1:
        return None
    (fullname,) = candidates
    obj = domain.objects[fullname]
    from docutils import nodes
    from sphinx.util.nodes import make_refnode

    if contnode.astext() == target:
        # A name written by the code (an annotation such as ``app_module.App``): show
        # the object's own name, as Sphinx does for the names it resolves itself.
        short = fullname.rpartition(".")[2]
        if isinstance(contnode, nodes.Text):
            contnode = nodes.Text(short)
        else:
            contnode = contnode.__class__("", "", nodes.Text(short))
    return make_refnode(
        app.builder, node["refdoc"], obj.docname, obj.node_id, contnode, fullname
    )


def _module_alias_matches(domain: Any, target: str) -> list[str]:
    # ``app_module.App`` or ``middleware.TaskMiddleware``: a procrastinate module,
    # possibly imported as ``<name>_module``, then a name in it.
    module, _, name = target.partition(".")
    if not name:
        return []
    fullname = f"procrastinate.{module.removesuffix('_module')}.{name}"
    return [fullname] if fullname in domain.objects else []


def _suffix_matches(domain: Any, target: str) -> list[str]:
    return sorted(
        name
        for name, obj in domain.objects.items()
        if name.endswith("." + target) and not obj.aliased
    )


def _inherited_matches(domain: Any, target: str) -> list[str]:
    class_name, _, attribute = target.rpartition(".")
    classes = _suffix_matches(domain, class_name)
    if len(classes) != 1:
        return []
    module_name, _, name = classes[0].rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        return []
    for base in getattr(cls, "__mro__", ())[1:]:
        if attribute in vars(base):
            matches = _suffix_matches(domain, f"{base.__name__}.{attribute}")
            return matches if len(matches) == 1 else []
    return []


def setup(app: Any) -> None:
    app.connect("missing-reference", _resolve_short_reference)
