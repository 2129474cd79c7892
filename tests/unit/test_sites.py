"""The site registry file and its loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.sites import SiteRegistry, SiteRegistryError

pytestmark = pytest.mark.unit

DESIGN_SITES = {
    "MY-SGH", "MY-HSI", "MY-HKL", "MY-NCI", "MY-HPP", "MY-UMMC", "TH-RAMA",
    "ID-DHARMAIS", "PH-SLMC", "VN-HCMOH", "VN-NCI", "JP-NCCH",
}  # fmt: skip


def test_packaged_registry_has_the_sites_of_the_design() -> None:
    registry = SiteRegistry.load()
    assert registry.codes == DESIGN_SITES
    assert registry.name_of("TH-RAMA") == "Ramathibodi Hospital"
    assert "MY-SGH" in registry
    assert "MY-XXX" not in registry


def test_unknown_site_name_lookup() -> None:
    with pytest.raises(KeyError, match="MY-XXX"):
        SiteRegistry.load().name_of("MY-XXX")


def test_adding_a_site_is_a_config_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "sites.yaml"
    file.write_text(
        "sites:\n  - {code: SG-NCC, name: National Cancer Centre Singapore, country: SG}\n"
    )
    monkeypatch.setenv("CASEBUS_SITES_FILE", str(file))
    assert SiteRegistry.load().codes == {"SG-NCC"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sites: 3\n", "expected a top-level 'sites' list"),
        ("sites:\n  - {code: A, name: B}\n", r"sites\[0\]: 'country' must be a non-empty string"),
        (
            "sites:\n  - {code: A, name: B, country: X}\n  - {code: A, name: C, country: Y}\n",
            "duplicate code 'A'",
        ),
        ("sites: [\n", "not valid YAML"),
    ],
)
def test_malformed_registry(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "sites.yaml"
    file.write_text(text)
    with pytest.raises(SiteRegistryError, match=message):
        SiteRegistry.load(file)


def test_missing_registry_file(tmp_path: Path) -> None:
    with pytest.raises(SiteRegistryError, match="cannot read the site registry"):
        SiteRegistry.load(tmp_path / "absent.yaml")
