"""perflaw.files: the one writer (temporary file beside the target, fsync, rename)."""

import errno
import os

import pytest

from perflaw import files
from perflaw.errors import FileError, PerflawError


def _leftovers(folder):
    return sorted(
        p.name for p in folder.iterdir() if "perflaw-tmp" in p.name or "perflaw-old" in p.name
    )


def test_write_text_replaces_and_keeps_mode(tmp_path):
    target = tmp_path / "law.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    files.write_text(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []


def test_new_file_gets_umask_mode_not_mkstemp_0600(tmp_path):
    target = files.write_text(tmp_path / "a.json", "{}")
    assert target.stat().st_mode & 0o777 == 0o666 & ~files._umask()


def test_failure_inside_body_leaves_previous_output(tmp_path):
    target = tmp_path / "table.parquet"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError), files.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer crashed")
    assert target.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []


def test_keyboard_interrupt_inside_body_leaves_previous_output(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous")
    with pytest.raises(KeyboardInterrupt), files.atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise KeyboardInterrupt
    assert target.read_text() == "previous"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "code, words",
    [
        (errno.ENOSPC, "no space left"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "permission denied"),
        (errno.EDQUOT, "quota"),
    ],
)
def test_os_errors_become_one_line_naming_the_path(tmp_path, monkeypatch, code, words):
    target = tmp_path / "law.json"
    target.write_text("previous")

    def failing_fsync(path):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files, "_fsync_file", failing_fsync)
    with pytest.raises(FileError) as info:
        files.write_text(target, "new", option="--out")
    msg = str(info.value)
    assert "\n" not in msg and str(target) in msg and "--out" in msg and words in msg
    assert target.read_text() == "previous"
    assert _leftovers(tmp_path) == []


def test_wrapped_os_error_from_a_writer_is_mapped(tmp_path):
    class WriterError(Exception):
        pass

    target = tmp_path / "x.parquet"
    with pytest.raises(FileError, match="no space left"), files.atomic_path(target):
        raise WriterError("failed to write: No space left on device (os error 28)")
    assert not target.exists() and _leftovers(tmp_path) == []


def test_output_that_is_an_input_is_refused(tmp_path):
    src = tmp_path / "runs.csv"
    src.write_text("a\n1\n")
    with pytest.raises(FileError, match="also an input"):
        files.write_text(src, "{}", inputs=[src])
    link = tmp_path / "link.csv"
    link.symlink_to(src)
    with pytest.raises(FileError, match="also an input"):
        files.write_text(link, "{}", inputs=[src])
    hard = tmp_path / "hard.csv"
    os.link(src, hard)
    with pytest.raises(FileError, match="also an input"):
        files.write_text(hard, "{}", inputs=[src])
    rel = tmp_path / "sub" / ".." / "runs.csv"
    (tmp_path / "sub").mkdir()
    with pytest.raises(FileError, match="also an input"):
        files.write_text(rel, "{}", inputs=[src])
    assert src.read_text() == "a\n1\n"


def test_output_inside_an_input_folder_is_refused(tmp_path):
    data = tmp_path / "dataset"
    data.mkdir()
    (data / "part-0.parquet").write_bytes(b"x")
    with pytest.raises(FileError, match="inside the input folder"):
        files.check_output(data / "per_user.parquet", [data])


def test_missing_parent_and_folder_targets(tmp_path):
    with pytest.raises(FileError, match="does not exist; create it first"):
        files.write_text(tmp_path / "nope" / "law.json", "{}")
    with pytest.raises(FileError, match="is a folder"):
        files.write_text(tmp_path, "{}")
    (tmp_path / "f").write_text("")
    with pytest.raises(FileError, match="is not a folder"):
        files.write_text(tmp_path / "f" / "law.json", "{}")
    assert isinstance(FileError("x"), PerflawError)


def test_symlinked_output_writes_through_the_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    files.write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


def test_atomic_folder_refuses_foreign_folder_and_replaces_its_own(tmp_path):
    out = tmp_path / "per_user"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    with pytest.raises(FileError, match="--overwrite"), files.atomic_folder(out):
        pass
    assert (out / "precious.txt").read_text() == "mine"
    # --overwrite replaces it
    with files.atomic_folder(out, overwrite=True) as tmp:
        (tmp / "part-0.parquet").write_bytes(b"v1")
    assert sorted(p.name for p in out.iterdir()) == [files.MARKER, "part-0.parquet"]
    # perflaw's own folder is replaced without --overwrite
    with files.atomic_folder(out) as tmp:
        (tmp / "part-0.parquet").write_bytes(b"v2")
    assert (out / "part-0.parquet").read_bytes() == b"v2"
    # a failure keeps the previous folder whole
    with pytest.raises(RuntimeError), files.atomic_folder(out) as tmp:
        (tmp / "part-0.parquet").write_bytes(b"partial")
        raise RuntimeError
    assert (out / "part-0.parquet").read_bytes() == b"v2"
    assert _leftovers(tmp_path) == []


def test_atomic_folder_empty_folder_is_fine_and_file_is_refused(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    with files.atomic_folder(out) as tmp:
        (tmp / "a").write_text("1")
    assert (out / "a").read_text() == "1"
    (tmp_path / "file").write_text("")
    with pytest.raises(FileError, match="is a file"):
        files.check_output_folder(tmp_path / "file")


def test_os_error_message_default_uses_strerror():
    msg = files.os_error_message(OSError(errno.ETXTBSY, "Text file busy"), "x")
    assert msg == "cannot write x: Text file busy"


def test_a_signal_after_an_output_was_renamed_names_it(tmp_path):
    from perflaw import _signals
    from perflaw.files import write_bytes

    with _signals.handled():
        assert "previous outputs are unchanged" in _signals.message(KeyboardInterrupt())
        write_bytes(tmp_path / "law.json", b"{}")
        write_bytes(tmp_path / "law.json", b"{}")  # rewritten: still named once
        line = _signals.message(KeyboardInterrupt())
    assert "after writing" in line and "law.json in full" in line
    assert "other previous outputs are unchanged" in line
    assert line.count("law.json") == 1
