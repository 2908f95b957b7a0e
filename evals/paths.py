"""Where the project's shipped files live (conf/, suites/), found from the package location."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = REPO_ROOT / "conf"
MODEL_CARD_DIR = CONF_DIR / "model"
SUITES_DIR = REPO_ROOT / "suites"
REPORTS_DIR = REPO_ROOT / "reports"
