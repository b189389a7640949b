"""The chart browser's plotly.js: the cartesian bundle when installed for the version plotly
ships (it draws the report's traces as the full bundle does), else the full bundle; the
installer writes only a package of the pinned integrity."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
from pathlib import Path

import plotly.graph_objects as go
import pytest

from crmreport.report import plotly_bundle
from crmreport.report.browser import browser, draw, drawn
from crmreport.report.plotly_bundle import chart_script, full_bundle, install, version_of


def _package(script: bytes) -> bytes:
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as archive:
        member = tarfile.TarInfo("package/plotly-cartesian.min.js")
        member.size = len(script)
        archive.addfile(member, io.BytesIO(script))
    return packed.getvalue()


def _integrity(package: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(package).digest()).decode("ascii")


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Bundles installed under tmp_path, not in this environment."""
    monkeypatch.setattr(plotly_bundle, "installed_at",
                        lambda version: tmp_path / f"plotly-cartesian-{version}.min.js")
    return tmp_path


def test_the_full_bundle_names_its_version():
    assert version_of(full_bundle()) in plotly_bundle.INTEGRITY


def test_without_the_cartesian_bundle_the_full_one_is_used(elsewhere: Path):
    assert chart_script() == full_bundle()


def test_a_package_of_the_pinned_integrity_is_installed_and_then_used(
        elsewhere: Path, monkeypatch: pytest.MonkeyPatch):
    version = version_of(full_bundle())
    assert version is not None
    package = _package(b"/** plotly.js (cartesian - minified) v9 */")
    monkeypatch.setitem(plotly_bundle.INTEGRITY, version, _integrity(package))
    written = install(version, package)
    assert written.read_bytes() == b"/** plotly.js (cartesian - minified) v9 */"
    assert chart_script() == written


def test_a_package_not_of_the_pinned_integrity_is_refused(elsewhere: Path):
    version = version_of(full_bundle())
    assert version is not None
    with pytest.raises(ValueError, match="does not match its pinned integrity"):
        install(version, _package(b"alert('not plotly')"))
    assert list(elsewhere.iterdir()) == []
    with pytest.raises(ValueError, match="no pinned integrity"):
        install("0.0.1", _package(b""))


def test_the_cartesian_bundle_draws_the_reports_traces_as_the_full_one(
        monkeypatch: pytest.MonkeyPatch):
    cartesian = chart_script()
    if cartesian == full_bundle():
        pytest.skip("the cartesian bundle is not installed here (make installs it)")
    assert version_of(cartesian) == version_of(full_bundle())
    figure = go.Figure([go.Bar(x=["a", "b"], y=[1, 2], uid="bar"),
                        go.Scatter(x=["a", "b"], y=[2, 1], uid="line"),
                        go.Heatmap(z=[[1, 2], [3, 4]], uid="heat", xaxis="x2", yaxis="y2")],
                       layout={"template": "none", "xaxis2": {"domain": [0.6, 1]},
                               "xaxis": {"domain": [0, 0.4]}, "yaxis2": {"anchor": "x2"}})
    drawings = []
    for script in (full_bundle(), cartesian):
        monkeypatch.setattr(plotly_bundle, "chart_script", lambda s=script: s)
        with browser():
            drawings.append(drawn(draw(figure.to_dict(), "svg", 500, 300)))
    full, partial = (_without_uid(drawing.decode("utf-8")) for drawing in drawings)
    assert "heatmaplayer" in full and "trace bars" in full and "scatterlayer" in full
    assert partial == full


def _without_uid(svg: str) -> str:
    """``svg`` without the random uid plotly.js gives each drawing (in ids and classes)."""
    uid = re.search(r'id="defs-(\w+)"', svg)
    assert uid
    return svg.replace(uid[1], "")
