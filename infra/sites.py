"""The site registry: which partner sites may publish events.

Sites live in a YAML file (`infra/sites.yaml` by default, or the file named by
`CASEBUS_SITES_FILE`), so that adding a site is a configuration change, not a schema change.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

DEFAULT_SITES_FILE: Final = Path(__file__).with_name("sites.yaml")
SITES_FILE_VARIABLE: Final = "CASEBUS_SITES_FILE"


class SiteRegistryError(Exception):
    """The site registry file is missing or malformed; the message names the file and entry."""


@dataclass(frozen=True, slots=True)
class Site:
    code: str
    name: str
    country: str


class SiteRegistry:
    """The known sites, by code."""

    def __init__(self, sites: Mapping[str, Site]) -> None:
        self._sites = dict(sites)

    @classmethod
    def load(cls, path: Path | str | None = None) -> SiteRegistry:
        """Read the registry from `path`, else `CASEBUS_SITES_FILE`, else the packaged file."""
        file = Path(path or os.environ.get(SITES_FILE_VARIABLE) or DEFAULT_SITES_FILE)
        try:
            document = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SiteRegistryError(f"{file}: cannot read the site registry: {exc}") from exc
        except yaml.YAMLError as exc:
            raise SiteRegistryError(f"{file}: not valid YAML: {exc}") from exc
        return cls(_sites_of(document, file))

    def __contains__(self, code: object) -> bool:
        return code in self._sites

    def __iter__(self) -> Iterator[Site]:
        return iter(self._sites.values())

    def __len__(self) -> int:
        return len(self._sites)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self._sites)

    def get(self, code: str) -> Site | None:
        return self._sites.get(code)

    def name_of(self, code: str) -> str:
        """The site's name; raises KeyError naming the code when the site is unknown."""
        site = self._sites.get(code)
        if site is None:
            raise KeyError(f"unknown site {code!r}")
        return site.name


def _sites_of(document: Any, file: Path) -> dict[str, Site]:
    entries = document.get("sites") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SiteRegistryError(f"{file}: expected a top-level 'sites' list")
    sites: dict[str, Site] = {}
    for index, entry in enumerate(entries):
        site = _site_of(entry, f"{file}: sites[{index}]")
        if site.code in sites:
            raise SiteRegistryError(f"{file}: sites[{index}]: duplicate code {site.code!r}")
        sites[site.code] = site
    return sites


def _site_of(entry: Any, where: str) -> Site:
    if not isinstance(entry, dict):
        raise SiteRegistryError(f"{where}: expected a mapping with code, name and country")
    values = {}
    for field in ("code", "name", "country"):
        value = entry.get(field)
        if not isinstance(value, str) or not value.strip():
            raise SiteRegistryError(f"{where}: '{field}' must be a non-empty string")
        values[field] = value.strip()
    return Site(**values)
