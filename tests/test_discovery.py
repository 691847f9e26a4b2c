from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from portkit.pipeline.discovery import (
    DiscoveredFile, DiscoveryError, discover, is_stray_temp, printable_path, unprintable_path,
)


def make_tree(root: Path, files: Iterable[str], content: str = "x = 1\n") -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def rels(root: Path, **options: object) -> list[str]:
    result = discover([root], **options)  # type: ignore[arg-type]
    return [f.relative.as_posix() for f in result.files]


def test_walk_is_sorted_and_filters_suffix(tmp_path: Path) -> None:
    make_tree(tmp_path, ["b.py", "a.py", "pkg/z.py", "pkg/sub/m.py", "README.md", "a.pyc", "c.pyi"])
    assert rels(tmp_path) == ["a.py", "b.py", "pkg/sub/m.py", "pkg/z.py"]


def test_order_is_deterministic_regardless_of_creation_order(tmp_path: Path) -> None:
    names = ["zeta/a.py", "alpha.py", "alpha/b.py", "Beta.py", "m/n/o.py", "m.py"]
    first = tmp_path / "one"
    second = tmp_path / "two"
    make_tree(first, names)
    make_tree(second, reversed(names))
    assert rels(first) == rels(second)
    assert rels(first) == ["Beta.py", "alpha/b.py", "alpha.py", "m/n/o.py", "m.py", "zeta/a.py"]


def test_custom_suffixes(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.py", "b.pyi", "c.txt"])
    assert rels(tmp_path, suffixes=(".py", ".pyi")) == ["a.py", "b.pyi"]


def test_suffixes_none_means_every_file(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.py", "data/b.csv", "Makefile", ".git/config", "__pycache__/a.pyc"])
    assert rels(tmp_path, suffixes=None) == ["Makefile", "a.py", "data/b.csv"]


def test_relative_and_root(tmp_path: Path) -> None:
    make_tree(tmp_path, ["src/pkg/a.py"])
    [found] = discover([tmp_path / "src"]).files
    assert found == DiscoveredFile(path=tmp_path / "src" / "pkg" / "a.py", root=tmp_path / "src")
    assert found.relative == Path("pkg/a.py")


def test_skipped_directories(tmp_path: Path) -> None:
    skipped = [
        ".git/hooks/x.py",
        ".hg/x.py",
        ".svn/x.py",
        "__pycache__/x.py",
        ".tox/py311/x.py",
        ".nox/x.py",
        ".eggs/x.py",
        "portkit.egg-info/x.py",
        "node_modules/x.py",
        ".mypy_cache/x.py",
        ".pytest_cache/x.py",
        ".ruff_cache/x.py",
        ".portkit_cache/x.py",
        "build/lib/x.py",
        "dist/x.py",
        "lib/site-packages/x.py",
        "sub/build/x.py",
    ]
    make_tree(tmp_path, [*skipped, "keep.py", "sub/keep.py", "builder/keep.py"])
    assert rels(tmp_path) == ["builder/keep.py", "keep.py", "sub/keep.py"]
    assert rels(tmp_path, respect_gitignore=False, suffixes=None) == [
        "builder/keep.py",
        "keep.py",
        "sub/keep.py",
    ]


def test_file_named_like_skipped_directory_is_kept(tmp_path: Path) -> None:
    make_tree(tmp_path, ["build", "dist.py"])
    assert rels(tmp_path, suffixes=None) == ["build", "dist.py"]


def test_virtualenv_is_skipped_by_pyvenv_cfg(tmp_path: Path) -> None:
    make_tree(tmp_path, ["myenv/pyvenv.cfg", "myenv/lib/python3.11/x.py", "env_like/y.py", "a.py"])
    assert rels(tmp_path) == ["a.py", "env_like/y.py"]


def test_explicitly_named_skipped_folder_is_walked(tmp_path: Path) -> None:
    # The user asked for it by name; only its contents are filtered.
    make_tree(tmp_path, ["build/a.py", "build/__pycache__/b.py"])
    assert rels(tmp_path / "build") == ["a.py"]


def test_exclude_patterns(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        [
            "a.py",
            "msg_pb2.py",
            "pkg/other_pb2.py",
            "tests/fixtures/f.py",
            "tests/test_a.py",
            "docs/conf.py",
        ],
    )
    found = rels(tmp_path, exclude=["tests/fixtures/", "*_pb2.py", "/docs"])
    assert found == ["a.py", "tests/test_a.py"]


def test_exclude_is_relative_to_root(tmp_path: Path) -> None:
    make_tree(tmp_path, ["proj/gen/a.py", "proj/gen_ok.py"])
    assert rels(tmp_path / "proj", exclude=["/gen/"]) == ["gen_ok.py"]


def test_gitignore_nested_and_negation(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        [
            "a.py",
            "generated.py",
            "out/x.py",
            "pkg/keep.py",
            "pkg/local.py",
            "pkg/deep/local.py",
            "pkg/deep/important_generated.py",
            "pkg/deep/other.py",
            "other/local.py",
            "logs/debug.py",
            "logs/keep_me.py",
        ],
    )
    write(tmp_path / ".gitignore", "generated.py\n*_generated.py\nout/\nlogs/*\n!logs/keep_me.py\n")
    write(tmp_path / "pkg" / ".gitignore", "local.py\n")
    # A deeper file can re-include what a shallower one ignored.
    write(tmp_path / "pkg" / "deep" / ".gitignore", "!important_generated.py\nother.py\n")

    assert rels(tmp_path) == [
        "a.py",
        "logs/keep_me.py",
        "other/local.py",
        "pkg/deep/important_generated.py",
        "pkg/keep.py",
    ]


def test_gitignore_directory_cannot_be_reincluded_into(tmp_path: Path) -> None:
    # git: "It is not possible to re-include a file if a parent directory of
    # that file is excluded."
    make_tree(tmp_path, ["vendor/lib.py", "vendor/mine.py"])
    write(tmp_path / ".gitignore", "vendor/\n!vendor/mine.py\n")
    assert rels(tmp_path) == []


def test_gitignore_directory_only_pattern_keeps_file_of_that_name(tmp_path: Path) -> None:
    make_tree(tmp_path, ["cache/a.py", "sub/cache"])
    write(tmp_path / ".gitignore", "cache/\n")
    assert rels(tmp_path, suffixes=None) == [".gitignore", "sub/cache"]


def test_gitignore_not_applied_when_disabled(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.py", "generated.py"])
    write(tmp_path / ".gitignore", "generated.py\n")
    assert rels(tmp_path, respect_gitignore=False) == ["a.py", "generated.py"]


def test_gitignore_above_root_in_repository_applies(tmp_path: Path) -> None:
    (tmp_path / ".git" / "info").mkdir(parents=True)
    write(tmp_path / ".git" / "info" / "exclude", "*_local.py\n")
    write(tmp_path / ".gitignore", "*_pb2.py\nsrc/pkg/gen/\n")
    make_tree(tmp_path, ["src/pkg/a.py", "src/pkg/a_pb2.py", "src/pkg/gen/g.py", "src/pkg/b_local.py"])
    assert rels(tmp_path / "src") == ["pkg/a.py"]


def test_gitignore_above_root_outside_repository_is_not_applied(tmp_path: Path) -> None:
    write(tmp_path / ".gitignore", "*.py\n")
    make_tree(tmp_path, ["proj/a.py"])
    assert rels(tmp_path / "proj") == ["a.py"]


def test_explicitly_named_ignored_folder_is_walked(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".gitignore", "generated/\n")
    make_tree(tmp_path, ["generated/a.py", "generated/b.py"])
    write(tmp_path / "generated" / ".gitignore", "b.py\n")
    assert rels(tmp_path) == []
    assert rels(tmp_path / "generated") == ["a.py"]


def test_explicit_file_always_included(tmp_path: Path) -> None:
    make_tree(tmp_path, ["script", "generated.py", "build/x.py"])
    write(tmp_path / ".gitignore", "generated.py\n")
    paths = [tmp_path / "script", tmp_path / "generated.py", tmp_path / "build" / "x.py"]
    result = discover(paths, exclude=["generated.py"])
    assert [f.path for f in result.files] == paths
    assert [f.root for f in result.files] == [tmp_path, tmp_path, tmp_path / "build"]
    assert [f.relative for f in result.files] == [Path("script"), Path("generated.py"), Path("x.py")]
    assert result.problems == ()


def test_nonexistent_path_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DiscoveryError) as info:
        discover([tmp_path, missing])
    assert str(info.value) == f"{missing}: no such file or directory"
    assert isinstance(info.value, ValueError)


def test_symlinked_directory_not_followed(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real/a.py", "outside/b.py"])
    (tmp_path / "real" / "loop").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "ext").symlink_to(tmp_path / "outside")
    result = discover([tmp_path / "real"])
    assert [f.relative.as_posix() for f in result.files] == ["a.py"]
    assert result.problems == ()


def test_explicit_symlinked_directory_is_walked(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real/a.py"])
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert rels(tmp_path / "link") == ["a.py"]


def test_symlinked_file_inside_tree_is_skipped_silently(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.py"])
    (tmp_path / "alias.py").symlink_to(tmp_path / "a.py")
    result = discover([tmp_path])
    assert [f.relative.as_posix() for f in result.files] == ["a.py"]
    assert result.problems == ()


def test_broken_symlink_reported(tmp_path: Path) -> None:
    make_tree(tmp_path, ["root/a.py"])
    (tmp_path / "root" / "dead.py").symlink_to(tmp_path / "root" / "gone.py")
    (tmp_path / "root" / "dead.txt").symlink_to(tmp_path / "root" / "gone.txt")  # not a .py: quiet
    result = discover([tmp_path / "root"])
    assert [f.relative.as_posix() for f in result.files] == ["a.py"]
    assert [(p.path, p.reason) for p in result.problems] == [
        (tmp_path / "root" / "dead.py", "broken symlink")
    ]


def test_symlink_to_outside_the_tree_reported(tmp_path: Path) -> None:
    make_tree(tmp_path, ["root/a.py", "elsewhere/b.py"])
    (tmp_path / "root" / "b.py").symlink_to(tmp_path / "elsewhere" / "b.py")
    result = discover([tmp_path / "root"])
    assert [f.relative.as_posix() for f in result.files] == ["a.py"]
    [problem] = result.problems
    assert problem.path == tmp_path / "root" / "b.py"
    assert problem.reason.startswith("symlink to outside the tree")


def test_explicit_broken_symlink_is_a_problem(tmp_path: Path) -> None:
    link = tmp_path / "dead.py"
    link.symlink_to(tmp_path / "gone.py")
    result = discover([link])
    assert result.files == ()
    assert [str(p) for p in result.problems] == [f"{link}: broken symlink"]


def test_explicit_symlinked_file_is_included(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real.py"])
    link = tmp_path / "link.py"
    link.symlink_to(tmp_path / "real.py")
    assert [f.path for f in discover([link]).files] == [link]


def test_duplicates_listed_once(tmp_path: Path) -> None:
    make_tree(tmp_path, ["src/a.py", "src/b.py"])
    result = discover([tmp_path / "src" / "b.py", tmp_path / "src", tmp_path / "src" / "a.py"])
    assert [f.path for f in result.files] == [tmp_path / "src" / "b.py", tmp_path / "src" / "a.py"]


def test_unreadable_directory_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: chmod 000 does not stop root, and tests may run as root.
    make_tree(tmp_path, ["a.py", "locked/b.py"])
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = discover([tmp_path])
    assert [f.relative.as_posix() for f in result.files] == ["a.py"]
    assert [(p.path, p.reason) for p in result.problems] == [
        (tmp_path / "locked", "unreadable directory: Permission denied")
    ]


def test_relative_paths_stay_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path, ["pkg/a.py", "b.py"])
    monkeypatch.chdir(tmp_path)
    result = discover([Path(".")])
    assert [f.path for f in result.files] == [Path("b.py"), Path("pkg/a.py")]
    assert [f.relative for f in result.files] == [Path("b.py"), Path("pkg/a.py")]


# --- names in output, and portkit's own temporary files ----------------------------------------

@pytest.mark.parametrize("name, shown", [
    ("plain/path.py", "plain/path.py"),
    ("ünïcode/名前.py", "ünïcode/名前.py"),
    ("with space.py", "with space.py"),
    (os.fsdecode(b"bad\xffbyte.py"), "bad\\xffbyte.py"),
    ("new\nline\tand\rcr.py", "new\\nline\\tand\\rcr.py"),
    ("bell\x07del\x7f.py", "bell\\x07del\\x7f.py"),
    ("c1\x85nbsp\xa0.py", "c1\\u0085nbsp\\u00a0.py"),
    ("bidi\u202eyp.py", "bidi\\u202eyp.py"),
    ("line\u2028sep.py", "line\\u2028sep.py"),
])
def test_printable_path_is_one_printable_line(name: str, shown: str) -> None:
    assert printable_path(name) == shown
    assert printable_path(name).isprintable()
    if os.sep == "/":
        assert unprintable_path(printable_path(name)) == name


@pytest.mark.skipif(os.sep != "/", reason="a backslash is a separator here")
def test_a_backslash_in_a_name_is_escaped_so_the_name_comes_back() -> None:
    name = "a\\x41\\b.py"  # a name that looks like an escape
    assert printable_path(name) == "a\\\\x41\\\\b.py"
    assert unprintable_path(printable_path(name)) == name


@pytest.mark.parametrize("name, ours", [
    (".train.py.0123abcd.portkit-tmp", True),
    (".a b.py.ffffffff.portkit-tmp", True),
    ("train.py.0123abcd.portkit-tmp", False),  # atomic_write's names start with a dot
    (".train.py.0123abc.portkit-tmp", False),
    (".train.py.0123ABCD.portkit-tmp", False),
    (".train.py.portkit-tmp", False),
    ("notes.portkit-tmp.py", False),
])
def test_stray_temporary_files_are_recognised_by_their_exact_name(name: str, ours: bool) -> None:
    assert is_stray_temp(name) is ours


def test_stray_temporary_files_are_listed_apart_from_sources(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.py", "pkg/.b.py.0123abcd.portkit-tmp", "pkg/b.py"])
    found = discover([tmp_path], suffixes=None)
    assert [f.relative.as_posix() for f in found.files] == ["a.py", "pkg/b.py"]
    assert found.strays == (tmp_path / "pkg" / ".b.py.0123abcd.portkit-tmp",)


def test_a_missing_path_with_an_odd_name_is_one_printable_line(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError) as raised:
        discover([tmp_path / os.fsdecode(b"no\xff\nsuch.py")])
    assert str(raised.value).isprintable() and "no\\xff\\nsuch.py" in str(raised.value)
