"""Writing outputs safely: the one way perflaw writes a file or an output folder.

Every output goes to a hidden temporary file beside its target (same folder, so the
final rename never crosses file systems); it is flushed and ``fsync``'ed, then renamed
over the target in one step (``os.replace``), and the folder is ``fsync``'ed.  Any
failure before the rename -- an exception, a full disk, Ctrl-C, SIGTERM -- removes the
temporary file and leaves a previous output exactly as it was.  ``kill -9`` can leave a
hidden ``.NAME.perflaw-tmp-XXXX.EXT`` beside the target, never a damaged target.

Before anything is written the target is checked: an output that is one of the inputs
(the same file once links are resolved) or lies inside an input folder is refused, a
folder where a file is expected is refused, and a missing parent folder is reported.
Output *folders* (a Spark per-user table) are written the same way, as a temporary
folder swapped in by rename; an existing folder is replaced only when it is empty or
holds perflaw's own output (the marker file :data:`MARKER`), unless ``overwrite=True``.

Every ``OSError`` on the way becomes a :class:`~perflaw.errors.FileError` whose one-line
message names the path and what to do (:func:`os_error_message`).

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_text(folder / "law.json", '{"a": 1}\\n').read_text()
'{"a": 1}\\n'
>>> with atomic_path(folder / "table.csv") as tmp:
...     _ = tmp.write_text("x\\n1\\n")
>>> sorted(p.name for p in folder.iterdir())
['law.json', 'table.csv']
>>> write_text(folder / "law.json", "{}", inputs=[folder / "law.json"])
Traceback (most recent call last):
...
perflaw.errors.FileError: ...law.json: this output is also an input; write it elsewhere
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from perflaw import _signals
from perflaw.errors import FileError

#: File written into every output folder perflaw creates; a folder holding it (or empty)
#: may be replaced without ``--overwrite``.
MARKER = "_PERFLAW_OUTPUT"

_ADVICE = {
    errno.ENOENT: "the folder does not exist: create it first or choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "it is a folder: give a file name",
    errno.EROFS: "the file system is read-only: choose a writable location",
    errno.EACCES: "permission denied: choose a location you can write to",
    errno.EPERM: "operation not permitted: choose a location you can write to",
    errno.ENOSPC: "no space left on the device: free some space or write elsewhere",
    errno.EDQUOT: "disk quota exceeded: free some space or write elsewhere",
    errno.ENAMETOOLONG: "the file name is too long: choose a shorter one",
    errno.EFBIG: "the file is too large for this file system: write elsewhere",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) or read fewer files at once",
    errno.EIO: "input/output error from the device: check the disk and retry",
}


def os_error_message(
    exc: OSError, path: str | os.PathLike | None = None, action: str = "write"
) -> str:
    """One line for an ``OSError``: the path, what went wrong and what to do.

    >>> os_error_message(OSError(errno.ENOSPC, "No space left on device"), "out/law.json")
    'cannot write out/law.json: no space left on the device: free some space or write elsewhere'
    """
    where = path if path is not None else (exc.filename or "a file")
    advice = _ADVICE.get(exc.errno) if exc.errno is not None else None
    if action != "write" and exc.errno == errno.ENOENT:
        advice = "no such file or folder: check the path"
    if advice is None:
        advice = (exc.strerror or str(exc) or type(exc).__name__).strip().splitlines()[0]
    return f"cannot {action} {where}: {advice}"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_distinct_outputs(**outputs: str | os.PathLike | None) -> None:
    """Refuse two options naming one file (``--out`` and ``--plot`` both ``fit.png``:
    the second write would replace the first).  Keyword names are the options without
    dashes; None entries are ignored.

    >>> check_distinct_outputs(out="law.json", plot="./law.json")
    Traceback (most recent call last):
    ...
    perflaw.errors.FileError: --out and --plot name the same file law.json; give each its own
    """
    given = [(k, Path(v)) for k, v in outputs.items() if v is not None]
    for i, (a, pa) in enumerate(given):
        for b, pb in given[i + 1 :]:
            if _same_file(pa, pb):
                raise FileError(
                    f"--{a.replace('_', '-')} and --{b.replace('_', '-')} name the same "
                    f"file {pa}; give each its own"
                )


def _inside(child: Path, folder: Path) -> bool:
    try:
        Path(os.path.realpath(child)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


def check_output(
    path: str | os.PathLike, inputs: Iterable = (), *, kind: str = "file", option: str | None = None
) -> Path:
    """Check an output path before any work is done; return it (links resolved).

    Parameters
    ----------
    path : path-like
        The output file (``kind="file"``) or folder (``kind="folder"``).
    inputs : iterable of path-like
        Files or folders the command reads; ``None`` entries are ignored.
    kind : {"file", "folder"}
    option : str, optional
        The option that named the path (``--out``), used in messages.

    Raises
    ------
    FileError
        The output is an input or inside an input folder, a file is expected where a
        folder is (or the reverse), or the parent folder does not exist.
    """
    target = Path(os.path.expanduser(os.fspath(path)))
    label = f"{option} {target}" if option else str(target)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    for inp in inputs:
        if inp is None:
            continue
        inp = Path(os.fspath(inp))
        if target.exists() and inp.exists() and _same_file(target, inp):
            raise FileError(f"{label}: this output is also an input; write it elsewhere")
        if inp.is_dir() and _inside(target, inp):
            raise FileError(
                f"{label}: this output is inside the input folder {inp}; write it elsewhere"
            )
    if kind == "file" and target.is_dir():
        raise FileError(f"{label}: is a folder; give a file name")
    if kind == "folder" and target.exists() and not target.is_dir():
        raise FileError(f"{label}: is a file; give a folder name")
    parent = target.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise FileError(
            f"{label}: the folder {parent} {what}; create it first or choose another path"
        )
    return target


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory; the rename stands
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_mode() -> int:
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike, inputs: Iterable = (), *, option: str | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The body writes the temporary file by any means (``write_parquet``, ``savefig``...);
    it keeps the target's extension so format detection by name works.  On success the
    file is fsync'ed and renamed over the target (keeping the target's permissions, or
    the umask default for a new file).  On any exception (KeyboardInterrupt and SIGTERM
    included) the temporary file is removed and the target is untouched.

    Raises
    ------
    FileError
        From :func:`check_output`, or one line for any ``OSError`` while writing.
    """
    target = check_output(path, inputs, option=option)
    label = f"{option} {target}" if option else str(target)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.stem}.perflaw-tmp-", suffix=target.suffix, dir=target.parent
        )
    except OSError as exc:
        raise FileError(os_error_message(exc, label)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
            mode = (target.stat().st_mode & 0o7777) if target.exists() else _default_mode()
            os.chmod(tmp, mode)
            _fsync_file(tmp)
            os.replace(tmp, target)
            _signals.written.append(str(target))
        except OSError as exc:
            raise FileError(os_error_message(exc, label)) from None
        except FileError:
            raise
        except Exception as exc:
            # writers wrap OSError in their own types (polars' ComputeError, matplotlib's
            # errors); find an OSError in the chain or in the text and map it
            oserr = find_os_error(exc)
            if oserr is not None:
                raise FileError(os_error_message(oserr, label)) from None
            raise
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    _fsync_dir(target.parent)


def find_os_error(exc: BaseException) -> OSError | None:
    """The ``OSError`` behind a writer's own exception type, if any (its cause chain, or
    its message naming a full disk, a read-only file system or a permission)."""
    current: BaseException | None = exc
    for _ in range(10):
        if current is None:
            break
        if isinstance(current, OSError):
            return current
        text = str(current).lower()
        for code, words in (
            (errno.ENOSPC, "no space left"),
            (errno.EDQUOT, "quota exceeded"),
            (errno.EROFS, "read-only file system"),
            (errno.EACCES, "permission denied"),
        ):
            if words in text:
                return OSError(code, os.strerror(code))
        current = current.__cause__ or current.__context__
    return None


def write_bytes(
    path: str | os.PathLike, data: bytes, inputs: Iterable = (), *, option: str | None = None
) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); return the path."""
    with atomic_path(path, inputs, option=option) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
    return Path(path)


def write_text(
    path: str | os.PathLike,
    text: str,
    inputs: Iterable = (),
    *,
    option: str | None = None,
    encoding: str = "utf-8",
) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); return the path."""
    write_bytes(path, text.encode(encoding), inputs, option=option)
    return Path(path)


#: The name ``perflaw.train.runs_table`` looks for.
atomic_write_text = write_text


def is_perflaw_folder(folder: str | os.PathLike) -> bool:
    """True when ``folder`` is empty or holds perflaw's marker file :data:`MARKER`."""
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    return not entries or (folder / MARKER).is_file()


def check_output_folder(
    path: str | os.PathLike,
    inputs: Iterable = (),
    *,
    overwrite: bool = False,
    option: str | None = None,
) -> Path:
    """:func:`check_output` for a folder, refusing to replace a folder that is not
    perflaw's own output (see :func:`is_perflaw_folder`) unless ``overwrite``."""
    target = check_output(path, inputs, kind="folder", option=option)
    label = f"{option} {target}" if option else str(target)
    if target.is_dir() and not overwrite and not is_perflaw_folder(target):
        raise FileError(
            f"{label}: the folder exists and holds files perflaw did not write; "
            "choose another path, empty it, or pass --overwrite to replace it"
        )
    return target


@contextlib.contextmanager
def atomic_folder(
    path: str | os.PathLike,
    inputs: Iterable = (),
    *,
    overwrite: bool = False,
    option: str | None = None,
) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``.

    Checks as :func:`check_output_folder`.  On success every file is fsync'ed, the marker
    :data:`MARKER` is added, the old folder (if any) is renamed aside, the new one renamed
    into place and the old one removed.  On failure the temporary folder is removed and
    the old folder is untouched.
    """
    target = check_output_folder(path, inputs, overwrite=overwrite, option=option)
    label = f"{option} {target}" if option else str(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.perflaw-tmp-", dir=target.parent))
    except OSError as exc:
        raise FileError(os_error_message(exc, label)) from None
    try:
        try:
            yield tmp
            (tmp / MARKER).write_text(
                "written by perflaw; this folder may be replaced by "
                "perflaw's next run to the same path\n"
            )
            for root, _dirs, names in os.walk(tmp):
                for name in names:
                    _fsync_file(Path(root) / name)
            os.chmod(tmp, 0o777 & ~_umask())
            old = None
            if target.exists():
                old = target.parent / f".{target.name}.perflaw-old-{secrets.token_hex(4)}"
                os.replace(target, old)
            os.replace(tmp, target)
            _signals.written.append(str(target))
            _fsync_dir(target.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            raise FileError(os_error_message(exc, label)) from None
        except FileError:
            raise
        except Exception as exc:
            oserr = find_os_error(exc)
            if oserr is not None:
                raise FileError(os_error_message(oserr, label)) from None
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
