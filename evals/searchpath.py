"""User configuration on Hydra's search path, in front of the shipped conf/.

Three ways, all with the shipped group layout (model/, suite/, load/, target/, experiment/ ...):
- `./bedrock-evals/` in the working directory, picked up when it exists;
- `--config-dir DIR` (also `-cd DIR`), as with any Hydra app; several may be given, the first wins;
- `hydra.searchpath=[file://DIR,pkg://module]`, Hydra's own override, searched after the shipped conf/.

User folders are searched after the shipped conf/ (Hydra reads the primary config.yaml, and only then its
search path), so `model/my-card.yaml` there is selected with `model=my-card`. A user file with a shipped name
would be silently shadowed by the shipped one, so it is refused with one line: copy a shipped card under a new
name (or extend it with a defaults list) instead. The same search path serves a single run (compose API) and a
multirun (`hydra.main`), where `--config-dir` is turned into this search path rather than Hydra's own flag.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from evals.errors import UserInputError
from evals.paths import CONF_DIR

LOCAL_DIR_NAME = "bedrock-evals"
CONFIG_DIR_FLAGS = ("--config-dir", "-cd")
SEARCHPATH_KEY = "hydra.searchpath"


@dataclass(frozen=True)
class SearchPath:
    appended: tuple[str, ...]  # hydra.searchpath entries after the shipped conf/, in search order
    user_dirs: tuple[Path, ...]  # the user folders among them

    primary: Path = CONF_DIR  # Hydra's primary config directory: the shipped conf/ with config.yaml

    def override(self) -> list[str]:
        """The one `hydra.searchpath=[...]` override for the user entries (none when there are none)."""
        if not self.appended:
            return []
        return [f"{SEARCHPATH_KEY}=[{','.join(_quote(e) for e in self.appended)}]"]

    def dirs(self) -> tuple[Path, ...]:
        """Every folder searched, in order: the shipped conf/, then the user folders and packages."""
        found = (_folder(e) for e in self.appended)
        return (self.primary, *(f for f in found if f is not None))


def _folder(entry: str) -> Path | None:
    """The directory behind a search-path entry; a pkg:// package not on disk (a zip) has none to list."""
    if entry.startswith("file://"):
        return Path(entry[len("file://"):])
    try:
        spec = importlib.util.find_spec(entry[len("pkg://"):].replace("/", "."))
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations and Path(locations[0]).is_dir() else None


def _quote(entry: str) -> str:
    return "'" + entry.replace("\\", "\\\\").replace("'", "\\'") + "'"


def split_argv(argv: list[str], cwd: Path | None = None) -> tuple[SearchPath, list[str]]:
    """Take the config-dir flags and any hydra.searchpath override out of argv; return the search path."""
    cwd = cwd or Path.cwd()
    config_dirs: list[Path] = []
    user_entries: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        flag, eq, value = arg.partition("=")
        if flag in CONFIG_DIR_FLAGS:
            if not eq:
                value = next(args, "")
            if not value:
                raise UserInputError(f"{flag}: needs a directory")
            config_dirs.append(_existing_dir((cwd / value).resolve(), flag))
        elif flag.lstrip("+") == SEARCHPATH_KEY:
            user_entries += _parse_searchpath(arg)
        else:
            rest.append(arg)
    local = cwd / LOCAL_DIR_NAME
    if local.is_dir() and local.resolve() not in config_dirs:
        config_dirs.append(local.resolve())
    return build(config_dirs, user_entries, cwd), rest


def build(user_dirs: list[Path], user_entries: list[str], cwd: Path) -> SearchPath:
    entries = [_absolute(e, cwd) for e in user_entries]
    folders = list(dict.fromkeys([*user_dirs, *(Path(e[len("file://"):]) for e in entries
                                                if e.startswith("file://"))]))
    for folder in folders:
        _refuse_shadowing(folder)
    appended = list(dict.fromkeys([f"file://{d}" for d in user_dirs] + entries))
    return SearchPath(tuple(appended), tuple(folders))


def _refuse_shadowing(folder: Path) -> None:
    """A user file named like a shipped one would never be read: say so instead of ignoring it."""
    for path in sorted(folder.glob("*/*.yaml")):
        group = path.parent.name
        if (CONF_DIR / group / path.name).is_file():
            raise UserInputError(f"{path}: {group}={path.stem} is a shipped name, which wins over user folders; "
                                 f"rename the file (and its name: key) to use it")


def _existing_dir(path: Path, key: str) -> Path:
    if not path.is_dir():
        raise UserInputError(f"{key}: {path} is not a directory")
    return path


def _parse_searchpath(arg: str) -> list[str]:
    try:
        value = OverridesParser.create().parse_overrides([arg.lstrip("+")])[0].value()
    except HydraException as err:
        raise UserInputError(f"{SEARCHPATH_KEY}: {str(err).splitlines()[0]}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserInputError(f"{SEARCHPATH_KEY}: must be a list of strings, e.g. [file://my_conf]")
    return value


def _absolute(entry: str, cwd: Path) -> str:
    """A relative `file://` entry is relative to the working directory, and must exist."""
    if entry.startswith("file://"):
        path = _existing_dir((cwd / entry[len("file://"):]).resolve(), SEARCHPATH_KEY)
        return f"file://{path}"
    if not entry.startswith("pkg://"):
        raise UserInputError(f"{SEARCHPATH_KEY}: {entry!r} must start with file:// or pkg://")
    return entry
