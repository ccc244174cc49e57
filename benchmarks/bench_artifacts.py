"""Files of a job served from the cache (exca.hydra.artifacts): what each way of bringing
the original run's files into the served job's output dir costs, and whether a write by
the served job can reach the original.

Ways measured, on the file system of ``--dir`` (default: a temporary folder), for one
large file (a checkpoint, ``--size-mb``, default 512) and 200 small files (metrics,
plots: 8 KiB each):

- ``symlink``: what ``artifacts=link`` did before issue 22 (a write goes through);
- ``hardlink``: one inode for both (an in-place write goes through; read-only bits stop a
  non-root writer and stop nobody running as root);
- ``clone``: a copy-on-write clone (``FICLONE``; only on file systems that have them,
  e.g. btrfs, xfs with reflink): free and independent;
- ``copy``: ``shutil.copy2`` (independent; costs time and disk space in proportion);
- ``link``: what ``artifacts=link`` does now (clone, else a copy below 16 MiB, else a
  read-only hard link).

The sides are interleaved round by round; the table shows the median time of each and
the extra disk space it takes. Run: ``.venv/bin/python benchmarks/bench_artifacts.py``.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exca.hydra import artifacts


def _symlink(src: Path, dest: Path) -> None:
    os.symlink(src, dest)


def _hardlink(src: Path, dest: Path) -> None:
    os.link(src, dest)


def _clone(src: Path, dest: Path) -> None:
    if not artifacts.clone(src, dest):
        raise OSError("no copy-on-write clones on this file system")


def _copy(src: Path, dest: Path) -> None:
    shutil.copy2(src, dest)


def _link(src: Path, dest: Path) -> None:
    artifacts._bring_file(src, dest, "link")


WAYS = {"symlink": _symlink, "hardlink": _hardlink, "clone": _clone, "copy": _copy, "link": _link}


def _disk(path: Path, shared: set[int]) -> int:
    """Disk space of the files of ``path`` not shared with the original (its inodes)."""
    files = [p.stat() for p in path.rglob("*") if not p.is_symlink()]
    return sum(st.st_blocks * 512 for st in files if st.st_ino not in shared)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="folder on the file system to measure")
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args, _ = parser.parse_known_args(argv)
    size = 16 if args.quick else args.size_mb
    repeats = 2 if args.quick else args.repeats
    root = Path(tempfile.mkdtemp(prefix="bench-artifacts-", dir=args.dir))
    try:
        original = root / "original"
        original.mkdir()
        big = original / "model.ckpt"
        with big.open("wb") as f:
            chunk = os.urandom(2**20)
            for _ in range(size):
                f.write(chunk)
        small = original / "metrics"
        small.mkdir()
        for k in range(200):
            (small / f"m{k}.json").write_bytes(os.urandom(8192))
        times: dict[tuple[str, str], list[float]] = {}
        space: dict[tuple[str, str], int] = {}
        for r in range(repeats):
            for way, func in WAYS.items():
                for case in ("large file", "200 small files"):
                    dest = root / f"{way}-{r}"
                    shutil.rmtree(dest, ignore_errors=True)
                    dest.mkdir()
                    os.sync()
                    start = time.perf_counter()
                    try:
                        if case == "large file":
                            func(big, dest / big.name)
                        else:
                            for src in sorted(small.iterdir()):
                                func(src, dest / src.name)
                    except OSError as e:
                        times[(way, case)] = []
                        space[(way, case)] = -1
                        print(f"{way}: {e}", file=sys.stderr)
                        continue
                    times.setdefault((way, case), []).append(time.perf_counter() - start)
                    inodes = {p.stat().st_ino for p in original.rglob("*")}
                    space[(way, case)] = _disk(dest, inodes)
                    os.chmod(big, 0o644)  # read-only hard links made it read-only
                    shutil.rmtree(dest)
        fs = os.statvfs(root)
        print(f"file system of {root} (block size {fs.f_bsize}); large file: {size} MiB")
        print("\n| way | case | median time | extra disk space | a write by the served job |")
        print("|---|---|---:|---:|---|")
        reaches = {
            "symlink": "reaches the original",
            "hardlink": "reaches the original",
            "clone": "stays its own",
            "copy": "stays its own",
            "link": "stays its own",
        }
        large_link = "large: fails (read-only hard link), except for root"
        for way in WAYS:
            for case in ("large file", "200 small files"):
                samples = times.get((way, case), [])
                if not samples:
                    print(f"| {way} | {case} | not supported | | |")
                    continue
                median = statistics.median(samples)
                extra = space[(way, case)] / 2**20
                write = large_link if (way, case) == ("link", "large file") else reaches[way]
                print(f"| {way} | {case} | {median * 1000:.2f} ms | {extra:.1f} MiB | {write} |")
    finally:
        for p in root.rglob("*"):
            if not p.is_symlink():
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
