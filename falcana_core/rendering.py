"""Rendering sections to HTML with Jinja2, independent of the web layer.

The web UI embeds this HTML in the popup; a plugin may supply its own template for a
section (``Section.template``, ``"<plugin>/<file>"`` from its package's ``templates/``,
usually extending the core's ``section.html``), the core's serves the rest. Write-only
fields are never rendered with a value: only whether one is stored.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from falcana_core.i18n import Domain, current_language, text_in, translator

if TYPE_CHECKING:
    import jinja2

    from falcana_core.host import Host
    from falcana_core.models import Mailbox
    from falcana_core.sections import Section, Validation

_ = Domain("core", Path(__file__).parent / "locale")


@functools.cache
def environment(plugin_dirs: tuple[tuple[str, str], ...] = ()) -> jinja2.Environment:
    """The core's templates, and each plugin's as ``"<plugin>/<file>"``."""
    import jinja2

    loaders: list[jinja2.BaseLoader] = [
        jinja2.PackageLoader("falcana_core", "templates"),
        jinja2.PrefixLoader({name: jinja2.FileSystemLoader(path) for name, path in plugin_dirs}),
    ]
    env = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders),
                             autoescape=jinja2.select_autoescape(["html"]),
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["_"] = lambda msgid, **kw: _(msgid, **kw)
    env.filters["help_html"] = help_html
    return env


HELP_TAGS = {"p", "ol", "ul", "li", "a", "strong", "em", "code", "br"}


def help_html(value: Any) -> Markup:
    """A plugin's help text (simple markup allowed) in the current language, through a
    real HTML sanitiser: <p>, lists, links (http, https, mailto), <strong>, <em>, <code>;
    no script, no event handlers, no styles, whatever a plugin or its translation holds."""
    import nh3

    text = text_in(value, current_language()) if value is not None else ""
    clean = nh3.clean(text, tags=HELP_TAGS, attributes={"a": {"href"}},
                      url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above


def render_section(host: Host, mailbox: Mailbox | None, section: Section, *,
                   values: Mapping[str, Any] | None = None,
                   validation: Validation | None = None, actor: str = "web",
                   show_actions: bool = True) -> Markup:
    """One section as an HTML fragment in the current language.

    ``show_actions=False`` leaves the action buttons to the page (the popup puts them
    next to "Speichern")."""
    ctx = host.context(mailbox, actor)
    shown = dict(values) if values is not None else section.load(ctx)
    fields = []
    for field in section.fields(ctx):
        value = None if field.write_only else shown.get(field.id)
        locked = field.admin_only and not ctx.admin
        fields.append({
            "field": field,
            "value": "" if value is None else value,
            "locked": locked,  # shown read-only: only an admin may change it
            # a non-admin sees the admin-only choices only when one is already chosen
            "choices": [c for c in field.choices
                        if (ctx.admin or not c.admin_only or c.value == value)
                        and (not locked or c.value == value)],
            "is_set": section.is_set(ctx, field.id) if field.write_only else False,
            "messages": validation.for_field(field.id) if validation else [],
            "hidden": _hidden(field.shown_when, shown),
            "hidden_choices": {c.value for c in field.choices
                               if _hidden(c.shown_when, shown)},
        })
    plugin_dirs = tuple((name, str(path)) for name, path in host.plugins.resources("templates"))
    template = environment(plugin_dirs).get_template(section.template or "section.html")
    html = template.render(
        section=section, fields=fields, lang=current_language(), host=host, mailbox=mailbox,
        ctx=ctx, values=shown, help=host.section_help(mailbox, section.id, shown),
        actions=[a for a in host.actions(section.id) if a.is_available(ctx)],
        show_actions=show_actions, _=translator((section.template or "").partition("/")[0], _),
        general=[m for m in (validation.messages if validation else []) if m.field is None])
    return Markup(html)  # noqa: S704 - rendered by Jinja2 with autoescape on


def _hidden(shown_when: tuple[str, Sequence[str]] | None, shown: Mapping[str, Any]) -> bool:
    """A field or choice of another choice than the one shown (``shown_when``)."""
    return shown_when is not None and str(shown.get(shown_when[0]) or "") not in shown_when[1]
