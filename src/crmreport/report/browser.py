"""The chart browser: one headless chromium, driven by kaleido, for everything the report
draws inside a :func:`browser` block. Its own module, light to import, so that the browser
can start before the data (and the libraries the report draws with) is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from crmreport.errors import RenderError

FIX = "install chromium (apt-get install -y chromium) or run `crmreport doctor`"

_open = [0]  # how many browser() blocks are open: the outermost starts and stops it


@contextmanager
def browser() -> Iterator[None]:
    """One chart browser for everything drawn inside the block, however deeply nested."""
    if _open[0]:
        _open[0] += 1
        try:
            yield
        finally:
            _open[0] -= 1
        return
    try:
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
    except Exception as exc:
        raise RenderError(f"could not start the chart browser ({exc}); {FIX}") from exc
    _open[0] = 1
    try:
        yield
    finally:
        _open[0] = 0
        kaleido.stop_sync_server(silence_warnings=True)
