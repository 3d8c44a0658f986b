"""The minimum-versions CI job (.ci/minimum) tests the floors pyproject.toml declares."""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / ".ci" / "minimum-versions.txt"
RUNTIME = ("numpy", "scipy", "scikit-learn")


def _declared():
    """pyproject.toml's runtime requirements (read from the file, not from an installed
    package's metadata, which is only as new as its last install)."""
    text = (ROOT / "pyproject.toml").read_text()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the [project] table's dependencies by hand
        block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
        lines = re.findall(r'"([^"]+)"', block)
    else:
        lines = tomllib.loads(text)["project"]["dependencies"]
    return {req.name: req.specifier for req in map(Requirement, lines)}


def _pins():
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            pins[req.name] = req.specifier
    return pins


def _release(version, length=3):
    release = Version(version).release
    return release + (0,) * (length - len(release))


@pytest.mark.skipif(not CONSTRAINTS.exists(), reason="not a checkout of the repository")
def test_minimum_versions_job_pins_the_declared_floors():
    declared = _declared()
    assert set(RUNTIME) <= set(declared)
    pins = _pins()
    for name in RUNTIME:
        (pin,) = pins[name]
        assert pin.operator == "==", (name, str(pin))
        (floor,) = declared[name]
        assert floor.operator == ">=", (name, str(floor))
        # the pin is the floor itself: its release padded with zeros (">=1.24" is 1.24.0)
        assert _release(pin.version) == _release(floor.version), (name, str(pin), str(floor))
