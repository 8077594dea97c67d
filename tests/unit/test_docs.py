"""The documentation: what the man pages name, what the package ships, and the links between.

The section 7 pages (doc/manpage.py) name the operator guide by its installed path; that
path must be what debian/docs and dh_compress make of doc/operator-guide.md (dh_compress
gzips a document in /usr/share/doc larger than 4 KiB). tests/packaging/test_docs_installed.py
checks the same against the really installed package. The Markdown documents link to
each other by relative path and heading anchor: every such link must resolve.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "doc"))
import manpage  # noqa: E402  (doc/manpage.py, the generator debian/rules runs)

DOC_DIR = "/usr/share/doc/resource-agents-openstack/"
GUIDE = DOC_DIR + "operator-guide.md.gz"
COMPRESS_ABOVE = 4096    # dh_compress: find usr/share/doc -size +4k (debhelper 13)
MARKDOWN = ("README.md", "doc/operator-guide.md", "doc/performance.md", "lab/README.md",
            "haproxy/README.md", "tests/cluster/README.md")

METADATA = """<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="keystone" version="0.1.0">
<version>1.0</version>
<longdesc lang="en">Keystone.</longdesc>
<shortdesc lang="en">Keystone</shortdesc>
<parameters/>
<actions><action name="start" timeout="90s"/></actions>
</resource-agent>
"""


def see_also(roff: str) -> str:
    """The SEE ALSO section of a page, as plain text (roff escapes undone)."""
    body = roff.split(".SH SEE ALSO\n", 1)[1].split("\n.SH ", 1)[0]
    return re.sub(r"\\f[BIR]", "", body).replace("\\:", "").replace("\\-", "-")


def named_docs() -> List[str]:
    """The files in /usr/share/doc that SEE ALSO of a rendered page names."""
    roff = manpage.render(manpage.parse_metadata(METADATA), "openstack", "2026-01-01")
    return [word.rstrip(".,;") for word in see_also(roff).split() if word.startswith(DOC_DIR)]


def test_the_man_page_names_the_installed_operator_guide() -> None:
    assert GUIDE in named_docs()
    assert DOC_DIR + "haproxy/README.md.gz" in named_docs()


def installed_docs() -> Dict[str, Path]:
    """What debian/docs and debian/install put in /usr/share/doc/<package>/:
    the installed name (before compression) -> the source file."""
    found = {}
    for line in (ROOT / "debian/docs").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            found[Path(line.strip()).name] = ROOT / line.strip()
    for line in (ROOT / "debian/install").read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and ("/" + fields[1].rstrip("/") + "/").startswith(DOC_DIR):
            dest = ("/" + fields[1].rstrip("/") + "/")[len(DOC_DIR):]
            found[dest + Path(fields[0]).name] = ROOT / fields[0]
    return found


@pytest.mark.parametrize("path", named_docs())
def test_each_named_document_is_shipped_under_that_name(path: str) -> None:
    """The page's name for a document is the packaged file's name after dh_compress."""
    shipped = installed_docs()
    name = path[len(DOC_DIR):]
    plain = name[:-3] if name.endswith(".gz") else name
    assert plain in shipped, f"{path}: {plain} is not in debian/docs or debian/install"
    size = shipped[plain].stat().st_size
    assert (size > COMPRESS_ABOVE) == name.endswith(".gz"), \
        f"{shipped[plain]} has {size} bytes: dh_compress makes it {plain}{'.gz' if size > COMPRESS_ABOVE else ''}"


def shipped_names() -> Set[str]:
    """The files debian/docs and debian/install put in /usr/share/doc/<package>/, as dh_compress
    leaves them."""
    return {name + ".gz" if src.stat().st_size > COMPRESS_ABOVE else name
            for name, src in installed_docs().items()}


@pytest.mark.parametrize("doc", MARKDOWN)
def test_installed_documents_are_named_as_installed(doc: str) -> None:
    """A document that names a file in /usr/share/doc/<package>/ names what is really there."""
    text = (ROOT / doc).read_text()
    named = re.findall(re.escape(DOC_DIR) + r"([^\s`)'\"]*)", text)
    wrong = [DOC_DIR + name for name in named if name and name not in shipped_names()]
    assert wrong == [], f"not installed under these names (shipped: {sorted(shipped_names())})"


def test_the_operator_guide_is_shipped() -> None:
    assert installed_docs()["operator-guide.md"] == ROOT / "doc/operator-guide.md"


def test_the_readme_is_a_front_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "(doc/operator-guide.md" in readme and "(doc/performance.md" in readme
    for command in ("bash lab/demo.sh", "bash tests/run.sh"):
        assert command in readme


# ---------------------------------------------------------------- links

def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def links(path: Path) -> List[str]:
    """The relative link targets of a Markdown file (no URLs, none inside code)."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("doc", MARKDOWN)
def test_every_link_resolves(doc: str) -> None:
    source = ROOT / doc
    broken = []
    for target in links(source):
        file, _, anchor = target.partition("#")
        dest = (source.parent / file).resolve() if file else source
        if not dest.is_file():
            broken.append(f"{target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert broken == []


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "a.md"
    page.write_text("# Title: one (two)\n\n[ok](#title-one-two) [bad](#nope) [gone](b.md)\n")
    assert links(page) == ["#title-one-two", "#nope", "b.md"]
    assert anchors(page) == {"title-one-two"}
