"""What one plugin contributes, in words a person reads: its settings sections with their
fields and help texts, its buttons and the names of its steps. ``falcana plugins show``
prints it, so an admin (or the plugin's author) sees a plugin's help without a browser."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from falcana_core.host import Host
    from falcana_core.sections import Field, Section


def _field(field: Field) -> dict[str, Any]:
    return {"id": field.id, "label": str(field.label), "type": field.type.value,
            "help": str(field.help) if field.help else "",
            "admin_only": field.admin_only, "required": field.required}


def _section(host: Host, section: Section, scope: str) -> dict[str, Any]:
    ctx = host.context(None, "cli")
    return {"id": section.id, "title": str(section.title), "scope": scope,
            "fields": [_field(f) for f in section.fields(ctx)]}


def describe(host: Host, name: str) -> dict[str, Any]:
    """The plugin's listing entry (as ``plugins list --json``) and what it contributes;
    a plugin that is not enabled contributes nothing (its hooks do not run)."""
    info = host.plugins.get(name)
    if info is None:
        raise LookupError(name)
    report = {**info.as_dict(), "sections": [], "actions": [], "steps": {},
              "needed_by": sorted(i.name for i in host.plugins.all() if name in i.depends)}
    if not report["enabled"]:
        return report
    hook = host.plugins.hook
    for scope, hook_name in (("user", "user_settings_sections"),
                             ("deployment", "deployment_settings_sections")):
        report["sections"] += [_section(host, s, scope)
                               for owner, s in hook.call(hook_name, host=host) if owner == name]
    report["actions"] = [{"id": a.id, "label": str(a.label), "section": a.section}
                         for owner, a in hook.call("user_actions", host=host) if owner == name]
    for owner, labels in hook.call("step_labels"):
        if owner == name:
            report["steps"].update({step: str(label) for step, label in labels.items()})
    return report
