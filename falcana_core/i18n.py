"""Translations: gettext catalogs (``.po``, read with Babel) per plugin, German by default.

Text is written in English in the code and marked with a domain's ``_``; it is translated
when it is turned into a string, in the language of the current context (a request, a CLI
run), so the same section description serves a German and an English admin.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

SUPPORTED_LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"

_language: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "falcana_language", default=None
)
_catalog_dirs: dict[str, Path] = {}


def normalise_language(value: str | None) -> str:
    """Map "de_DE", "en-GB", "EN" ... to a supported language, else the default."""
    if not value:
        return DEFAULT_LANGUAGE
    code = value.strip().replace("-", "_").split("_")[0].lower()
    return code if code in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    """The language of this context; falls back to ``FALCANA_LANG``, then German."""
    lang = _language.get()
    if lang is None:
        return normalise_language(os.environ.get("FALCANA_LANG"))
    return lang


@contextlib.contextmanager
def language(lang: str | None) -> Iterator[str]:
    """Run a block in one language (a web request, a CLI command, a test)."""
    token = _language.set(normalise_language(lang))
    try:
        yield _language.get() or DEFAULT_LANGUAGE
    finally:
        _language.reset(token)


def set_language(lang: str | None) -> None:
    """Set the language for the rest of this context (the CLI's entry point)."""
    _language.set(normalise_language(lang))


def register_catalogs(domain: str, locale_dir: Path) -> None:
    """Make ``locale_dir/<lang>/LC_MESSAGES/<domain>.po`` the catalogs of ``domain``."""
    _catalog_dirs[domain] = locale_dir
    _catalog.cache_clear()


@functools.cache
def _catalog(domain: str, lang: str) -> Mapping[str, str]:
    from babel.messages.pofile import read_po

    base = _catalog_dirs.get(domain)
    if base is None:
        return {}
    path = base / lang / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    return {
        str(m.id): str(m.string)
        for m in catalog
        if m.id and m.string and isinstance(m.id, str) and not m.fuzzy
    }


def translate(domain: str, msgid: str, lang: str | None = None) -> str:
    """The translation of ``msgid`` in ``domain``, or ``msgid`` itself."""
    return _catalog(domain, lang or current_language()).get(msgid, msgid)


class LazyText:
    """A message that is translated (and formatted) only when it is turned into a string."""

    __slots__ = ("domain", "msgid", "params")

    def __init__(self, domain: str, msgid: str, params: Mapping[str, Any] | None = None) -> None:
        self.domain = domain
        self.msgid = msgid
        self.params = dict(params or {})

    def format(self, **params: Any) -> LazyText:
        return LazyText(self.domain, self.msgid, {**self.params, **params})

    def in_language(self, lang: str) -> str:
        text = translate(self.domain, self.msgid, lang)
        if not self.params:
            return text
        values = {
            k: (v.in_language(lang) if isinstance(v, LazyText) else v)
            for k, v in self.params.items()
        }
        return text.format(**values)

    def __str__(self) -> str:
        return self.in_language(current_language())

    def __repr__(self) -> str:
        return f"LazyText({self.domain!r}, {self.msgid!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyText):
            return (self.domain, self.msgid, self.params) == (
                other.domain,
                other.msgid,
                other.params,
            )
        if isinstance(other, str):
            return str(self) == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.domain, self.msgid))

    def __html__(self) -> str:
        from markupsafe import escape

        return str(escape(str(self)))


Text = str | LazyText


class Domain:
    """The translation domain of one plugin: ``_ = Domain("smtp_settings", here / "locale")``."""

    def __init__(self, name: str, locale_dir: Path) -> None:
        self.name = name
        register_catalogs(name, locale_dir)

    def __call__(self, msgid: str, **params: Any) -> LazyText:
        return LazyText(self.name, msgid, params)


def text_in(value: Text, lang: str) -> str:
    """A text (lazy or plain) in the given language."""
    return value.in_language(lang) if isinstance(value, LazyText) else value


def translator(domain: str, fallback: Domain) -> Callable[..., LazyText]:
    """``_`` for a plugin's template: the plugin's own catalogue (``domain``, named like
    the plugin), then ``fallback`` (the core's)."""

    def text(msgid: str, **params: Any) -> LazyText:
        if domain and translate(domain, msgid) != msgid:
            return LazyText(domain, msgid, params)
        return fallback(msgid, **params)

    return text
