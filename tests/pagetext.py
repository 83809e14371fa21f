"""Read figures off a rendered page the way a person reads them: by the words beside them.

A small tree built with the standard library's HTML parser, and helpers that return a page's
cards (number and label), a table's rows (by column header) and an element's text with its
whitespace collapsed. Tests check numbers shown on pages with these, not only that a page
answers 200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["Node", "cards", "parse", "table", "text", "text_by_id"]

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Node:
    """An element: its tag, attributes and children (nodes or strings)."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self):
        """Yield this node and every element under it, in document order."""
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, *, cls: str | None = None) -> list[Node]:
        return [
            n for n in self.iter()
            if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)
        ]

    def by_id(self, id_: str) -> Node:
        for n in self.iter():
            if n.attrs.get("id") == id_:
                return n
        raise LookupError(f"no element with id {id_!r}")


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("document")
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    """Return the page as a tree of :class:`Node`."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


BLOCK = {"address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div",
         "dl", "dt", "fieldset", "figure", "footer", "form", "h1", "h2", "h3", "h4", "header",
         "hr", "li", "main", "nav", "ol", "option", "p", "pre", "section", "summary", "table",
         "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}


def _pieces(node: Node | str, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(node)
        return
    if node.tag in ("script", "style"):
        return
    block = node.tag in BLOCK
    if block:
        out.append(" ")
    for child in node.children:
        _pieces(child, out)
    if block:
        out.append(" ")


def text(node: Node | str) -> str:
    """Return the text a person sees in ``node``, whitespace collapsed.

    Inline elements run on ("<a>2 proposals</a>." reads "2 proposals."); block elements
    (cells, paragraphs, list items) are set apart by a space.
    """
    out: list[str] = []
    _pieces(node, out)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def text_by_id(html: str, id_: str) -> str:
    """Return the text of the element with ``id_`` on the page."""
    return text(parse(html).by_id(id_))


def cards(html: str) -> dict[str, str]:
    """Return the page's figure cards as {label: number shown}."""
    out = {}
    for card in parse(html).find_all("div", cls="card"):
        number = [n for n in card.find_all("div", cls="n")]
        label = [n for n in card.find_all("div", cls="l")]
        if number and label:
            out[text(label[0])] = text(number[0])
    return out


def table(html: str, id_: str) -> list[dict[str, str]]:
    """Return the rows of the table with ``id_`` as {column header: cell text}.

    Without a header row the columns are named by position ("0", "1", ...).
    """
    tbl = parse(html).by_id(id_)
    head = tbl.find_all("thead")
    headers = [text(th) for th in head[0].find_all("th")] if head else []
    rows = []
    for tr in tbl.find_all("tr"):
        if head and any(tr is n for n in head[0].iter()):
            continue
        cells = [n for n in tr.children if isinstance(n, Node) and n.tag in ("td", "th")]
        names = headers if len(headers) == len(cells) else [str(i) for i in range(len(cells))]
        rows.append({name: text(cell) for name, cell in zip(names, cells, strict=True)})
    return rows
