"""The plotly.js the chart browser compiles at every report: plotly's cartesian bundle
(bar, heatmap, scatter and the other cartesian traces: all the report draws) when it is
installed for the plotly.js version plotly ships, else plotly's full bundle.

Chromium compiles the page's script as it starts, on cores the report's other processes
need: with the full bundle (4.8 MB) its start took 1.3-1.7 s more CPU than with the
cartesian one (1.5 MB), and the demo report's PDF is byte-identical with either. The
bundle is not a Python package: ``make`` installs it (``python -m
crmreport.report.plotly_bundle``) from the npm registry into this environment's
``share/crmreport``, checked against the integrity pinned here (npm's sha512 of the
package). Without it (another plotly.js version, or an install without ``make``) the
full bundle is used, with the same drawings.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

PACKAGE = "plotly.js-cartesian-dist-min"
# npm's integrity of each version's package (registry.npmjs.org/<package>/<version>)
INTEGRITY = {
    "4.1.1": "sha512-o8GrFeusncwBIxbBynRJpY4pkgVB6caM+JLpwrLYbbsO7dZ8FJ+SVN2Fr+L7kiG/"
             "Z6w4P5O0Jus/Qr5EefHVeg==",
}
_MEMBER = "package/plotly-cartesian.min.js"
_VERSION = re.compile(rb"plotly\.js(?: \(cartesian - minified\))? v(\d+\.\d+\.\d+)")


def full_bundle() -> Path:
    """The full plotly.js that plotly ships (kaleido's default)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def version_of(script: Path) -> str | None:
    """The plotly.js version a bundle's header names."""
    with script.open("rb") as header:
        found = _VERSION.search(header.read(300))
    return found[1].decode("ascii") if found else None


def installed_at(version: str) -> Path:
    return Path(sys.prefix) / "share" / "crmreport" / f"plotly-cartesian-{version}.min.js"


def chart_script() -> Path:
    """The cartesian bundle of the full bundle's version if it is installed, else the full
    bundle."""
    full = full_bundle()
    version = version_of(full)
    cartesian = installed_at(version) if version else None
    return cartesian if cartesian and cartesian.is_file() else full


def install(version: str, fetch: bytes | None = None) -> Path:
    """The cartesian bundle of ``version`` downloaded (or taken from ``fetch``, the package's
    bytes), checked and written where :func:`chart_script` looks for it."""
    if version not in INTEGRITY:
        raise ValueError(f"no pinned integrity for {PACKAGE} {version}: the full bundle is used")
    package = fetch if fetch is not None else urllib.request.urlopen(
        f"https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{version}.tgz", timeout=60).read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(package).digest()).decode("ascii")
    if digest != INTEGRITY[version]:
        raise ValueError(f"{PACKAGE} {version} does not match its pinned integrity")
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as archive:
        member = archive.extractfile(_MEMBER)
        if member is None:
            raise ValueError(f"{PACKAGE} {version} holds no {_MEMBER}")
        script = member.read()
    target = installed_at(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(script)
    partial.replace(target)  # whole or not at all
    return target


def main() -> None:
    """Install the bundle for the plotly.js plotly ships; on failure say so and go on (the
    full bundle draws the same)."""
    version = version_of(full_bundle())
    try:
        if version is None:
            raise ValueError("plotly's bundle names no version")
        if installed_at(version).is_file():
            return
        print(f"installed {install(version)}")
    except (OSError, ValueError, tarfile.TarError) as exc:
        print(f"the cartesian plotly.js bundle is not installed ({exc}); charts are drawn "
              "with plotly's full bundle, a little slower", file=sys.stderr)


if __name__ == "__main__":
    main()
