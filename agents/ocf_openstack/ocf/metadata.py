"""The agent's meta-data XML (OCF 1.0, valid against ra-api-1.dtd).

Built with ElementTree so every text is escaped; no ``encoding=`` in the XML
declaration because crmsh 4.4 refuses to parse one.
"""

from typing import Iterable, NamedTuple, Optional

from .params import Parameter


class ActionSpec(NamedTuple):
    name: str
    timeout: int
    interval: Optional[int] = None
    depth: Optional[int] = None


# What every agent advertises: realistic timeouts (s), the two monitor depths.
ACTIONS = (
    ActionSpec("start", 60),
    ActionSpec("stop", 60),
    ActionSpec("monitor", 20, 10, 0),
    ActionSpec("monitor", 30, 30, 10),
    ActionSpec("reload", 10),
    ActionSpec("validate-all", 10),
    ActionSpec("meta-data", 5),
)


def _describe(parent, longdesc: str, shortdesc: str) -> None:
    from xml.etree import ElementTree as ET

    ET.SubElement(parent, "longdesc", lang="en").text = longdesc
    ET.SubElement(parent, "shortdesc", lang="en").text = shortdesc


def render(name: str, version: str, longdesc: str, shortdesc: str,
           params: Iterable[Parameter], actions: Iterable[ActionSpec]) -> str:
    """The complete meta-data document as a string."""
    from xml.etree import ElementTree as ET  # ~5 ms: only the meta-data action pays it

    root = ET.Element("resource-agent", name=name, version=version)
    ET.SubElement(root, "version").text = "1.0"
    _describe(root, longdesc, shortdesc)
    plist = ET.SubElement(root, "parameters")
    for param in params:
        node = ET.SubElement(plist, "parameter", name=param.name,
                             unique="1" if param.unique else "0",
                             required="1" if param.required else "0")
        _describe(node, param.longdesc, param.shortdesc)
        ET.SubElement(node, "content", type=param.kind, default=param.default)
    alist = ET.SubElement(root, "actions")
    for action in actions:
        attrs = {"name": action.name, "timeout": f"{action.timeout}s"}
        if action.interval is not None:
            attrs["interval"] = f"{action.interval}s"
        if action.depth is not None:
            attrs["depth"] = str(action.depth)
        ET.SubElement(alist, "action", attrs)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0"?>\n<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">\n'
            + body + "\n")
