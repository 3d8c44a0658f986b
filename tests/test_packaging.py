"""The minimum-versions CI job (.ci/minimum) tests the floors pyproject.toml declares."""

from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

CONSTRAINTS = Path(__file__).resolve().parents[1] / ".ci" / "minimum-versions.txt"
RUNTIME = ("numpy", "scipy", "scikit-learn")


def _pins():
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            pins[req.name] = req.specifier
    return pins


def test_minimum_versions_job_pins_the_declared_floors():
    declared = {
        req.name: req.specifier
        for req in map(Requirement, requires("sklearn-em"))
        if req.marker is None and req.name in RUNTIME
    }
    assert set(declared) == set(RUNTIME)
    pins = _pins()
    for name in RUNTIME:
        (pin,) = pins[name]
        assert pin.operator == "==", (name, str(pin))
        (floor,) = declared[name]
        assert floor.operator == ">=", (name, str(floor))
        # the pin is the declared floor's release (its oldest patch release, or a later one
        # of the same minor version when the floor names only the minor version)
        pinned, lowest = Version(pin.version), Version(floor.version)
        assert pinned in floor, (name, str(pin), str(floor))
        assert pinned.release[: len(lowest.release)] == lowest.release, (name, pinned, lowest)
