from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from portkit.pipeline.sourcefile import (
    SourceError,
    SourceFile,
    atomic_write,
    decode_source,
    encode_source,
    read_source,
)

ROUND_TRIP_CASES = {
    "plain": b"import torch\nx = torch.cuda.is_available()\n",
    "bom": b"\xef\xbb\xbfimport torch\nprint('h\xc3\xa9')\n",
    "bom_crlf": b"\xef\xbb\xbfimport torch\r\nx = 1\r\n",
    "crlf": b"import torch\r\n\r\nx = 1\r\n",
    "lone_cr": b"import torch\rx = 1\r",
    "mixed": b"a = 1\r\nb = 2\nc = 3\rd = 4\r\n",
    "no_trailing_newline": b"import torch\nx = 1",
    "trailing_whitespace": b"x = 1   \n\t\ny = 2 \t\r\n   ",
    "latin1_cookie": b"# -*- coding: latin-1 -*-\ns = '\xe9t\xe9'\n",
    "cp1252_cookie_second_line": b"#!/usr/bin/env python\n# coding: cp1252\ns = '\x80'\r\n",
    "utf8_cookie": b"# coding: utf-8\ns = '\xe2\x82\xac'\n",
    "empty": b"",
    "only_newlines": b"\n\r\n\r",
    "form_feed": b"x = 1\n\x0c\ny = 2\n",
}


@pytest.mark.parametrize("data", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_round_trip_is_byte_identical(data: bytes) -> None:
    source = decode_source(data, Path("f.py"))
    assert encode_source(source.text, source.encoding) == data


@pytest.mark.parametrize("data", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_read_then_atomic_write_keeps_file_identical(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.py"
    path.write_bytes(data)
    source = read_source(path)
    atomic_write(path, encode_source(source.text, source.encoding))
    assert path.read_bytes() == data


def test_line_endings_are_not_translated() -> None:
    source = decode_source(b"a\r\nb\rc\n", Path("f.py"))
    assert source.text == "a\r\nb\rc\n"


def test_bom_gives_utf8_sig_and_text_without_bom() -> None:
    source = decode_source(b"\xef\xbb\xbfx = 1\n", Path("f.py"))
    assert source.encoding == "utf-8-sig"
    assert source.text == "x = 1\n"
    assert encode_source("y = 2\n", source.encoding) == b"\xef\xbb\xbfy = 2\n"


def test_latin1_cookie_is_decoded_with_that_encoding() -> None:
    source = decode_source(ROUND_TRIP_CASES["latin1_cookie"], Path("f.py"))
    assert source.encoding == "iso-8859-1"
    assert "été" in source.text


def test_default_encoding_is_utf8() -> None:
    assert decode_source(b"x = 1\n", Path("f.py")).encoding == "utf-8"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb\n", "\n"),
        ("a\r\nb\r\nc\n", "\r\n"),
        ("a\rb\rc\r\n", "\r"),
        ("a\r\nb\n", "\n"),  # tie prefers "\n"
        ("no newline", "\n"),
        ("", "\n"),
    ],
)
def test_newline_is_dominant_line_ending(text: str, expected: str) -> None:
    assert SourceFile(Path("f.py"), text, "utf-8").newline == expected


def test_binary_file_is_rejected_with_offset() -> None:
    with pytest.raises(SourceError) as info:
        decode_source(b"import os\x00\x01", Path("blob.py"))
    assert info.value.reason == "binary file (NUL byte at offset 9)"
    assert info.value.path == Path("blob.py")
    assert str(info.value) == "blob.py: binary file (NUL byte at offset 9)"


def test_undecodable_utf8_reports_line() -> None:
    data = b"# first\n# second\nx = '\xff'\n"
    with pytest.raises(SourceError) as info:
        decode_source(data, Path("bad.py"))
    assert info.value.reason == "cannot decode as utf-8: invalid start byte at line 3"


def test_undecodable_utf8_on_first_line_reports_decode_error() -> None:
    # tokenize.detect_encoding itself fails here with a generic message.
    with pytest.raises(SourceError) as info:
        decode_source(b"x = '\xff'\n", Path("bad.py"))
    assert info.value.reason == "cannot decode as utf-8: invalid start byte at line 1"


def test_undecodable_in_declared_encoding() -> None:
    with pytest.raises(SourceError) as info:
        decode_source(b"# coding: ascii\nx = '\xe9'\n", Path("bad.py"))
    assert info.value.reason.startswith("cannot decode as ascii:")
    assert info.value.reason.endswith("at line 2")


def test_unknown_coding_cookie() -> None:
    with pytest.raises(SourceError) as info:
        decode_source(b"# coding: klingon\nx = 1\n", Path("bad.py"))
    assert info.value.reason == "bad coding cookie: unknown encoding: klingon"


def test_cookie_conflicting_with_bom() -> None:
    with pytest.raises(SourceError) as info:
        decode_source(b"\xef\xbb\xbf# coding: latin-1\nx = 1\n", Path("bad.py"))
    assert info.value.reason.startswith("bad coding cookie")


def test_non_ascii_compatible_cookie_is_rejected() -> None:
    # Decoding ASCII bytes as utf-16-le would "succeed" and produce garbage.
    with pytest.raises(SourceError) as info:
        decode_source(b"# coding: utf-16-le\nx = 1\n", Path("bad.py"))
    assert "not ASCII-compatible" in info.value.reason


def test_read_source_unreadable(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        read_source(tmp_path)  # a directory cannot be read as a file
    assert info.value.reason.startswith("unreadable: ")


def test_read_source_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: chmod 000 does not stop root, and tests may run as root.
    path = tmp_path / "f.py"
    path.write_bytes(b"x = 1\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(SourceError) as info:
        read_source(path)
    assert str(info.value) == f"{path}: unreadable: Permission denied"


def test_read_source_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        read_source(tmp_path / "missing.py")
    assert info.value.reason == "unreadable: No such file or directory"


def test_read_source_broken_symlink(tmp_path: Path) -> None:
    link = tmp_path / "link.py"
    link.symlink_to(tmp_path / "gone.py")
    with pytest.raises(SourceError) as info:
        read_source(link)
    assert info.value.reason == "broken symlink"


def test_read_source_returns_path_as_given(tmp_path: Path) -> None:
    path = tmp_path / "f.py"
    path.write_bytes(b"x = 1\r\n")
    assert read_source(path) == SourceFile(path, "x = 1\r\n", "utf-8")


def test_source_error_is_one_line_and_picklable() -> None:
    error = SourceError(Path("a.py"), "unreadable:\n  Permission denied")
    assert error.reason == "unreadable: Permission denied"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.reason) == (error.path, error.reason)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".portkit-tmp"))


def test_atomic_write_replaces_content_and_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "tool.py"
    path.write_bytes(b"old\n")
    path.chmod(0o755)
    atomic_write(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tool.py"]


def test_atomic_write_creates_new_file_with_umask_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.py"
    atomic_write(path, b"x = 1\n")
    assert path.read_bytes() == b"x = 1\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert _leftovers(tmp_path) == []


def test_atomic_write_failure_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.py"
    path.write_bytes(b"old\n")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(path, b"new\n")
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.py"]


def test_atomic_write_failure_during_write_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.py"
    path.write_bytes(b"old\n")

    def failing_fsync(fd: int) -> None:
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        atomic_write(path, b"new\n")
    assert path.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.py"]


def test_atomic_write_through_symlink_keeps_the_link(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "target.py"
    target.write_bytes(b"old\n")
    target.chmod(0o640)
    link = tmp_path / "link.py"
    link.symlink_to(target)

    atomic_write(link, b"new\n")

    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _leftovers(tmp_path) == [] and _leftovers(real_dir) == []


def test_atomic_write_through_relative_symlink_chain(tmp_path: Path) -> None:
    target = tmp_path / "target.py"
    target.write_bytes(b"old\n")
    (tmp_path / "hop.py").symlink_to("target.py")
    (tmp_path / "link.py").symlink_to("hop.py")

    atomic_write(tmp_path / "link.py", b"new\n")

    assert (tmp_path / "link.py").is_symlink() and (tmp_path / "hop.py").is_symlink()
    assert target.read_bytes() == b"new\n"
