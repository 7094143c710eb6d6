"""A new user's install works whatever the state of the Numba cache.

Each test imports a *copy* of the package in a subprocess (``PYTHONPATH``),
so the environment (cache directories, temporary directory) is the one the
test sets up and nothing is left in the checkout. The tests run as root in
CI, where ``chmod`` stops nothing, so an unusable location is made
impossible instead: a regular file named ``__pycache__`` where the package's
in-tree cache would go, ``HOME`` and ``XDG_CACHE_HOME`` below a regular file
(Numba's user-wide cache), and for the no-cache case ``tempfile.tempdir``
below a regular file too (setting ``TMPDIR`` alone is not enough: when it is
unusable ``tempfile.gettempdir()`` falls back to ``/tmp``).

Every kernel compiled in a fresh cache costs time (about 10 s for the
max-margin engine, 30 s more for the ERM engine), so the unusable-location
tests call the max-margin engine only (every kernel, the ERM engine's
included, is decorated at import, which is where the cache location is
chosen and where Numba raised), and the corrupt-cache test, which also calls
erm(), starts from a copy of this process's own warm cache when it has one,
so that only the run over the corrupted cache compiles. The last tests run
in-process: the temporary cache directory's safety rules, and a cache that
cannot be written after decoration.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

import asymptotics
from asymptotics import _engine, _erm_engine, covariance, gaussian

PKG = pathlib.Path(asymptotics.__file__).parent
MODEL = (0.1, [4, 0], [0, 2])
HANG_GUARD = 600  # seconds per subprocess; a fresh compile takes 10-40 s

# Run in the subprocess. argv: tempfile.tempdir to force ("-" for none), "erm" to
# also call erm(). Prints one JSON line (last line of stdout) with the answers, the
# package's cache decision and Numba's hit/miss counts over the package's kernels.
SCRIPT = r"""
import json, sys, tempfile
if sys.argv[1] != "-":
    tempfile.tempdir = sys.argv[1]
import asymptotics
from asymptotics import _jit, gaussian, _engine, _erm_engine, covariance
model = asymptotics.LabelGMM(0.1, [4, 0], [0, 2])
out = {"R_bal": float(asymptotics.cs_svm(model, 2.0, 3.0).R_bal)}
if sys.argv[2] == "erm":
    out["erm_R_bal"] = float(asymptotics.erm(model, 1.0, "CE", 1e-2).R_bal)
paths, hits, misses, kernels = set(), 0, 0, 0
for module in (gaussian, _engine, _erm_engine, covariance):
    for obj in vars(module).values():
        stats = getattr(obj, "stats", None)
        if hasattr(stats, "cache_hits"):
            kernels += 1
            paths.add(stats.cache_path)
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
out.update(CACHE=_jit.CACHE, CACHE_DIR=getattr(_jit, "CACHE_DIR", None), file=asymptotics.__file__,
           cache_paths=sorted(str(p) for p in paths if p is not None), hits=hits, misses=misses, kernels=kernels)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def reference():
    """The answers of this process (the installed package, its usual cache)."""
    model = asymptotics.LabelGMM(*MODEL)
    return {"R_bal": float(asymptotics.cs_svm(model, 2.0, 3.0).R_bal),
            "erm_R_bal": float(asymptotics.erm(model, 1.0, "CE", 1e-2).R_bal)}


def _copy_package(root: pathlib.Path, block_pycache: bool) -> pathlib.Path:
    """Copy the package's source (no caches) to root/asymptotics; with
    *block_pycache*, a regular file named __pycache__ in each of its directories."""
    dst = root / "asymptotics"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if block_pycache:
        for directory in [dst, *(p for p in dst.rglob("*") if p.is_dir())]:
            (directory / "__pycache__").write_text("not a directory\n")
    return dst


def _run(tmp_path, copy_root, env_updates, tempdir="-", erm=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["PYTHONPATH"] = str(copy_root)
    env.update(env_updates)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tempdir), "erm" if erm else "-"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert pathlib.Path(out["file"]).parent == copy_root / "asymptotics"  # the copy, not the checkout
    assert out["kernels"] > 20  # the stats cover the package's kernels
    return out, proc.stdout


def _close(a, b):
    return abs(a - b) <= 1e-12 * abs(b)


def _blocked_home(tmp_path):
    """HOME and XDG_CACHE_HOME below a regular file: Numba's user-wide cache is unusable."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file\n")
    return blocker, {"HOME": str(blocker / "home"), "XDG_CACHE_HOME": str(blocker / "cache")}


def _cache_files(directory: pathlib.Path):
    return sorted(p for p in directory.rglob("*") if p.suffix in (".nbi", ".nbc"))


def test_no_usable_cache_location_falls_back_to_a_private_temp_dir(tmp_path, reference):
    root = tmp_path / "site"
    copy = _copy_package(root, block_pycache=True)
    blocker, env = _blocked_home(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env["TMPDIR"] = str(tmp)

    out, _ = _run(tmp_path, root, env)
    assert _close(out["R_bal"], reference["R_bal"])
    assert out["CACHE"] is True
    cache_dir = pathlib.Path(out["CACHE_DIR"])
    assert cache_dir.parent == tmp and cache_dir.name.startswith("asymptotics-numba-cache")
    # every kernel of the package is cached there, nowhere else
    assert all(pathlib.Path(p).parent == cache_dir for p in out["cache_paths"]), out["cache_paths"]
    assert _cache_files(cache_dir)
    mode = cache_dir.stat().st_mode
    assert not mode & (stat.S_IWGRP | stat.S_IWOTH)  # no other user can plant a cache entry
    assert (copy / "__pycache__").is_file() and blocker.is_file()
    assert out["misses"] > 0 and out["hits"] == 0  # compiled ...

    again, _ = _run(tmp_path, root, env)
    assert again["R_bal"] == out["R_bal"]
    assert again["hits"] > 0 and again["misses"] == 0  # ... and the next process reuses it


def test_no_writable_location_at_all_compiles_without_a_cache(tmp_path, reference):
    root = tmp_path / "site"
    _copy_package(root, block_pycache=True)
    blocker, env = _blocked_home(tmp_path)
    env["TMPDIR"] = str(blocker / "tmp")

    out, _ = _run(tmp_path, root, env, tempdir=blocker / "tmp")
    assert _close(out["R_bal"], reference["R_bal"])
    assert out["CACHE"] is False and out["CACHE_DIR"] is None
    assert out["cache_paths"] == [] and out["hits"] == 0  # no kernel has a cache
    assert not _cache_files(tmp_path)


def _seed_cache(pycache: pathlib.Path) -> int:
    """Copy this process's cache files of the package (warm after `reference`) into
    the copy's __pycache__; their names and contents do not depend on the package's
    path. Returns the number of files copied (0 when this process caches nothing)."""
    pycache.mkdir()
    sources = {getattr(getattr(obj, "stats", None), "cache_path", None)
               for module in (gaussian, _engine, _erm_engine, covariance) for obj in vars(module).values()}
    sources = [pathlib.Path(p) for p in sources if p and pathlib.Path(p).is_dir()]
    files = [p for source in sources for p in source.iterdir() if p.suffix in (".nbi", ".nbc")]
    for p in files:
        shutil.copy2(p, pycache / p.name)
    return len(files)


def test_corrupt_cache_is_recompiled_and_rewritten(tmp_path, reference):
    root = tmp_path / "site"
    copy = _copy_package(root, block_pycache=False)
    pycache = copy / "__pycache__"
    _seed_cache(pycache)  # with no seed, the first run populates the cache itself

    first, _ = _run(tmp_path, root, {}, erm=True)
    assert _close(first["R_bal"], reference["R_bal"])
    assert _close(first["erm_R_bal"], reference["erm_R_bal"])
    assert first["cache_paths"] == [str(pycache)]
    files = _cache_files(pycache)
    index = [p for p in files if p.suffix == ".nbi"]
    assert len(index) > 20

    # Every data file truncated; every other index file truncated and the others left
    # intact, so both ways of reading a corrupt cache are taken: an unreadable index,
    # and a readable index pointing to an unreadable entry.
    for p in files:
        if p.suffix == ".nbc" or index.index(p) % 2 == 0:
            p.write_bytes(p.read_bytes()[:5])

    second, stdout = _run(tmp_path, root, {"NUMBA_DEBUG_CACHE": "1"}, erm=True)
    assert second["R_bal"] == first["R_bal"]
    assert second["erm_R_bal"] == first["erm_R_bal"]
    assert second["hits"] == 0 and second["misses"] > 0  # recompiled, nothing loaded
    assert "IndexDataCacheFile._load_index failed" in stdout
    assert "IndexDataCacheFile._load_data failed" in stdout

    third, _ = _run(tmp_path, root, {}, erm=True)  # the corrupt entries were overwritten
    assert third["R_bal"] == first["R_bal"]
    assert third["erm_R_bal"] == first["erm_R_bal"]
    assert third["hits"] > 0 and third["misses"] == 0


def test_private_temp_dir_refuses_what_another_user_could_write(tmp_path, monkeypatch):
    """The fallback cache holds pickles: a symlink, or a directory that others
    can write to, is not used (in-process; the mode bits are checked by the
    package, so this holds as root too)."""
    from asymptotics import _jit

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    name = "asymptotics-numba-cache" + (f"-{os.getuid()}" if hasattr(os, "getuid") else "")
    path = _jit._private_temp_dir()
    assert path == str(tmp_path / name)
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0
    os.chmod(path, 0o777)
    assert _jit._private_temp_dir() is None
    os.rmdir(path)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    os.symlink(tmp_path / "elsewhere", path)
    assert _jit._private_temp_dir() is None


def test_no_cache_dir_in_the_working_directory(tmp_path, monkeypatch):
    """tempfile.gettempdir() falls back to the current directory when no
    temporary directory is usable; the cache does not go there."""
    from asymptotics import _jit

    monkeypatch.chdir(tmp_path)
    for var in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    assert _jit._temp_root() is None
    assert _jit._private_temp_dir() is None
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # named as the temporary directory: used
    assert _jit._temp_root() == str(tmp_path)


def test_a_cache_that_cannot_be_written_leaves_the_kernel_uncached(tmp_path):
    """The cache directory chosen at decoration is gone (a temporary-file cleaner,
    a full disk) and cannot be recreated: the call still compiles and answers."""
    from numba import njit

    from asymptotics import _jit

    cache = tmp_path / "cache"
    with _jit._numba_cache_dir(str(cache)):
        @njit(cache=True)
        def twice(x):
            return 2.0 * x

    assert pathlib.Path(twice.stats.cache_path).is_relative_to(cache)
    shutil.rmtree(cache)
    cache.write_text("a regular file: the cache directory cannot be recreated\n")
    assert twice(1.5) == 3.0
    assert twice.stats.cache_misses and not twice.stats.cache_hits
