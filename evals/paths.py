"""Where the project's shipped files live (conf/, suites/), in a checkout and in an installed wheel.

A checkout keeps conf/ and suites/ at the repository's top level. The wheel carries the same trees inside the
package (pyproject maps them to `evals/_shipped/conf` and `evals/_shipped/suites`), so an installed copy finds
them next to its own code and never depends on the working directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the checkout (or, installed, the site-packages directory)
_SHIPPED = PACKAGE_DIR / "_shipped"


def _shipped(name: str) -> Path:
    """The installed copy when there is one, else the checkout's top-level folder."""
    installed = _SHIPPED / name
    return installed if installed.is_dir() else REPO_ROOT / name


CONF_DIR = _shipped("conf")
MODEL_CARD_DIR = CONF_DIR / "model"
SUITES_DIR = _shipped("suites")
DOCS_DIR = _shipped("docs")
