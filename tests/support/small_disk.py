"""A small disk for the disk-full tests: a tmpfs of a few MB that the test mounts and unmounts
(as root, which CI is), filled on demand with a ballast file and freed again.

Where mounting is not permitted (not root, or a container without the capability) the tests
skip, saying so; with NEWSLETTER_TEST_REQUIRE_MOUNT set (CI) they fail instead.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


class SmallDisk:
    """A mounted tmpfs at `path`; `fill()` leaves `leave` bytes free, `free()` gives the space
    back (and, with `size`, grows the disk, as an operator adding space would)."""

    def __init__(self, path: Path):
        self.path = path
        self.ballast = path / "ballast"

    def available(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Write ballast until only `leave` bytes are free (an ENOSPC on the way ends it)."""
        chunk = b"\0" * (64 * 1024)
        with open(self.ballast, "ab") as out:
            try:
                while (room := self.available() - leave) > 0:
                    out.write(chunk[: min(room, len(chunk))])
                    out.flush()
            except OSError:
                pass  # full: that was the point

    def free(self, size: str | None = None) -> None:
        self.ballast.unlink(missing_ok=True)
        if size:
            _mount("-o", f"remount,size={size}", str(self.path))


def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_disk() -> Iterator[SmallDisk]:
    """A 4 MB tmpfs mounted for this test (outside pytest's private tmp folders, so a server
    running as another user could use it too), unmounted after."""
    path = Path(tempfile.mkdtemp(prefix="newsletter-disk-"))
    done = _mount("-t", "tmpfs", "-o", "size=4m,mode=1777", "tmpfs", str(path))
    if done.returncode != 0:
        path.rmdir()
        reason = f"cannot mount a small tmpfs here ({done.stderr.strip()}): run as root"
        if os.environ.get("NEWSLETTER_TEST_REQUIRE_MOUNT"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
        path.rmdir()
