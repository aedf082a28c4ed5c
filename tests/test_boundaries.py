"""The architecture holds: the core imports no plugin and does not know the SMTP section's
fields; plugins (first-party and the example) use only the declared plugin API."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import falcana_core.api as api

ROOT = Path(__file__).parent.parent
CORE = ROOT / "falcana_core"
#: the SMTP section's id and the field names only it has (email, password, host, port and
#: display name are words the core uses for its own users, logins, mailboxes and web server)
SMTP_WORDS = {"smtp", "auth_method", "username", "security"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "falcana_core":  # from falcana_core import api
                found.update(f"falcana_core.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def core_sources() -> list[Path]:
    return [p for p in CORE.rglob("*.py") if "testing" not in p.parts]


def plugin_sources() -> list[Path]:
    packages = [*ROOT.glob("plugins/*/falcana_*"), *ROOT.glob("examples/*/falcana_*")]
    return [p for pkg in packages for p in pkg.rglob("*.py") if "tests" not in p.parts]


def test_the_core_imports_no_plugin() -> None:
    plugin_packages = {p.name for p in [*ROOT.glob("plugins/*/falcana_*"),
                                        *ROOT.glob("examples/*/falcana_*")]}
    assert {"falcana_smtp_settings", "falcana_oauth"} <= plugin_packages
    for path in [*core_sources(), *CORE.glob("testing/*.py")]:
        bad = {m for m in imports(path) if m.split(".")[0] in plugin_packages}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_core_does_not_know_the_smtp_sections_fields() -> None:
    for path in core_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
                      and n.body and isinstance(n.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    id(node) not in docstrings:
                words = {node.value.lower(), node.value.split(".")[0].lower()}
                assert not words & SMTP_WORDS, \
                    f"{path.relative_to(ROOT)}:{node.lineno} names {node.value!r}"


def test_plugins_import_only_the_plugin_api_of_the_core() -> None:
    sources = plugin_sources()
    assert len(sources) > 30
    for path in sources:
        core = {m for m in imports(path) if m.split(".")[0] == "falcana_core"}
        # a plugin's own test kit (its testing module) builds on the core's test kit
        api = {"falcana_core.api", "falcana_core.api.transport", "falcana_core.api.net",
               "falcana_core.api.web", "falcana_core.api.cli"}
        allowed = api | ({m for m in core if m.startswith("falcana_core.testing")}
                         if "testing" in path.parts or path.name == "testing.py" else set())
        assert core <= allowed, f"{path.relative_to(ROOT)} imports {core}"


def test_every_api_name_resolves() -> None:
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert sorted(api.__all__) == sorted(dir(api))


#: words of one protocol or provider: they belong to the plugins that speak them
MAIL_WORDS = re.compile(r"smtp|imap|x?oauth|xoauth2|m365|microsoft|gmail|google"
                        r"|outlook|dovecot|starttls|ehlo|sent_copy|copy_", re.IGNORECASE)
#: what the plugin API's generic types say of any mail: the envelope needs SMTPUTF8 (RFC
#: 6531), a server that answered in another protocol, the standard library's mail
#: policy, and the variables' old names, still read
GENERIC = {"smtputf8", "NOT_SMTP", "not_smtp", "SMTPUTF8", "SMTP",
           "FALCANA_SMTP_TIMEOUT", "FALCANA_SMTP_TEST_DEADLINE"}


def _code_words(path: Path) -> list[tuple[int, str]]:
    """Names and string constants of a module, not its docstrings and comments (prose
    may give a plugin as an example)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                id(node) not in docstrings:
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.Name):
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.arg):
            found.append((node.lineno, getattr(node, "name", None) or node.arg))
    return found


def test_no_protocol_or_provider_word_in_the_cores_code_templates_or_static_files() -> None:
    """The core, its test kit, its templates and its static files speak of mailboxes,
    transports, steps and explanations; SMTP, IMAP, OAuth and the providers are the
    plugins'. Its migrations are history and stay as they were."""
    bad = []
    for path in CORE.rglob("*.py"):
        if "versions" in path.parts:
            continue
        for line, word in _code_words(path):
            rest = word
            for generic in GENERIC:
                rest = rest.replace(generic, "")
            if MAIL_WORDS.search(rest):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {word!r}")
    for path in [*CORE.rglob("*.html"), *CORE.rglob("*.js"), *CORE.rglob("*.css")]:
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if MAIL_WORDS.search(text):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {text.strip()[:80]}")
    assert not bad, "\n".join(bad)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_circle_of_imports_in_the_core_type_only_ones_included() -> None:
    """The host is built of its modules; none of them names the host (plugins see its
    contract, ``falcana_core.sections.PluginHost``), so the core reads from the bottom up.
    Every import counts: under ``TYPE_CHECKING`` and inside a function too."""
    import graphlib

    modules = {_module_name(p): p for p in [*core_sources(), *CORE.glob("testing/*.py")]
               if "versions" not in p.parts}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {name: {target for m in imports(path)
                    if (target := resolve(m)) is not None and target != name}
             for name, path in modules.items()}
    assert {"falcana_core.host", "falcana_core.sections", "falcana_core.plugins"} <= set(graph)
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None
    assert order.index("falcana_core.sections") < order.index("falcana_core.host")
