"""Archives of run records, as CI engines hand them to a publish job: tarballs (plain, gzip,
bzip2, xz) and zip files (GitHub serves every artifact as one), unpacked safely and within
bounds into a temporary folder, or refused whole with the reason (BadArchive).

Safety: no member may be an absolute path or leave the folder (`..`), nor be a device or FIFO;
a tarball's links must stay inside it (tarfile's `data` filter, applied to every member), and
a zip may hold files and folders only (a symbolic link is refused: zipfile would write it as a
file). Bounds (`Budget`): members, bytes in all and bytes of one file are counted from the
headers (a tarball's, as it is read) or the central directory (a zip's, whole, before anything
is written), and an artifact's archives inside it count against the same budget. A zip member
is read until one byte past the size it declares: one that inflates further is a zip bomb and
refused; zips are read only when stored or deflated (bzip2 and LZMA members decompress a chunk
without bound). A single tarball read over `HEADER_BYTES` (a pax or long-name header tarfile
would hold in memory) is refused too.

Only the members `wanted` names are written out (ingest reads run.json and results.jsonl,
and archives one level in); the others are checked all the same.
"""

from __future__ import annotations

import bz2
import contextlib
import copy
import gzip
import io
import lzma
import os
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from harness.errors import BadInput
from harness.reading import open_regular, size

ARCHIVE_MEMBERS = 20_000  # a run directory has five files: 4,000 runs per archive
ARCHIVE_BYTES = 1 << 30  # unpacked, all members together (archives inside it included)
MEMBER_BYTES = 256 << 20  # one file of a run directory
HEADER_BYTES = 1 << 20  # one tar header (pax records, a long name) read at once
CHUNK = 1 << 16

SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
"""How an archive found in a folder (or inside another archive) is recognised: by its name.
A path given to ingest is recognised by its content."""

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a first member, or the end of an empty zip
Stream = io.BufferedIOBase | BinaryIO
ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}


class BadArchive(BadInput):
    """An archive that is refused whole: unreadable, unsafe or over a bound; says why."""


def named_like_archive(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


@dataclass
class Budget:
    """What one artifact may unpack to, counted member by member (ARCHIVE_MEMBERS, ...)."""

    members: int = 0
    bytes: int = 0

    def count(self, name: str, length: int) -> None:
        self.members += 1
        self.bytes += length
        if self.members > ARCHIVE_MEMBERS:
            raise BadArchive(f"more than {ARCHIVE_MEMBERS} members")
        if length > MEMBER_BYTES:
            raise BadArchive(
                f"{name}: {length} bytes, over the {size(MEMBER_BYTES)} a run's file may have"
            )
        if self.bytes > ARCHIVE_BYTES:
            raise BadArchive(f"unpacks to more than {size(ARCHIVE_BYTES)}")


def kind_of(path: Path) -> str | None:
    """'zip' or 'tar' by the file's content (a tarball may be compressed), None for neither.
    Only a regular file is opened (reading.open_regular); OSError if it cannot be read."""
    with open_regular(path) as handle:
        start = handle.read(8)
        if start.startswith(ZIP_MAGIC):
            return "zip"
        handle.seek(0)
        try:
            with _decompressed(handle, start) as stream:
                block = stream.read(tarfile.BLOCKSIZE)
        except (OSError, EOFError, zlib.error, lzma.LZMAError):
            return None
    if len(block) == tarfile.BLOCKSIZE and not block.strip(b"\0"):
        return "tar"  # an empty tarball: no run record in it, which ingest says
    try:
        tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return None
    return "tar"


@contextlib.contextmanager
def unpacked(
    path: Path, wanted: Callable[[PurePosixPath], bool], budget: Budget | None = None
) -> Iterator[Path]:
    """A temporary folder holding the members `wanted` selects of the archive at `path`, once
    every member has passed the checks (module docstring); BadArchive saying why it is refused,
    and the folder removed, otherwise."""
    budget = Budget() if budget is None else budget
    with tempfile.TemporaryDirectory(prefix="matrix-ingest-") as tmp:
        root = Path(tmp)
        try:
            kind = kind_of(path)
        except OSError as error:
            raise BadArchive(f"cannot read: {error.strerror or error}") from None
        if kind == "zip":
            _unzip(path, root, wanted, budget)
        elif kind == "tar":
            _untar(path, root, wanted, budget)
        else:
            raise BadArchive("not a tarball or a zip file")
        yield root


# --- tarballs ----------------------------------------------------------------------------------


def _decompressed(handle: BinaryIO, start: bytes) -> contextlib.AbstractContextManager[Stream]:
    """The tar stream inside a compressed file (by its first bytes), or the file itself."""
    if start.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=handle, mode="rb")
    if start.startswith(b"BZh"):
        return bz2.BZ2File(handle)
    if start.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(handle)
    return contextlib.nullcontext(handle)


class _Capped:
    """A tar stream that refuses a single read over HEADER_BYTES: tarfile reads a member's data
    in 16 KiB pieces, but a pax or long-name header whole, into memory."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def read(self, count: int = -1) -> bytes:
        if count < 0 or count > HEADER_BYTES:
            raise BadArchive(f"a pax or long-name header of more than {size(HEADER_BYTES)}")
        return self.stream.read(count)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.stream.seek(offset, whence)

    def tell(self) -> int:
        return self.stream.tell()


def _untar(path: Path, root: Path, wanted: Callable[[PurePosixPath], bool], budget: Budget) -> None:
    try:
        with open_regular(path) as handle:
            start = handle.read(8)
            handle.seek(0)
            with (
                _decompressed(handle, start) as stream,
                tarfile.open(fileobj=_Capped(stream), mode="r:") as tar,  # type: ignore[call-overload]
            ):
                for member in tar:
                    budget.count(member.name, member.size)
                    if wanted(PurePosixPath(member.name)) and not member.isdir():
                        tar.extract(member, root, filter="data")
                    else:  # not written, but refused all the same if it is unsafe
                        tarfile.data_filter(member, str(root))
    except tarfile.FilterError as error:
        raise BadArchive(f"unsafe member: {error}") from None
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as error:
        raise BadArchive(f"not a readable tarball: {error}") from None


# --- zip files ---------------------------------------------------------------------------------


def _unzip(path: Path, root: Path, wanted: Callable[[PurePosixPath], bool], budget: Budget) -> None:
    try:
        with open_regular(path) as handle, zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
            chosen = []
            for info in members:  # all of the central directory, before anything is written
                name = _safe_name(info)
                budget.count(info.filename, info.file_size)
                if not info.is_dir() and wanted(name):
                    chosen.append((info, name))
            for info, name in chosen:
                _write(archive, info, root.joinpath(*name.parts))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, OSError) as error:
        raise BadArchive(f"not a readable zip file: {error}") from None


def _safe_name(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's path inside the folder, or BadArchive saying why it may not have one."""
    name = info.filename.replace("\\", "/")
    problem = None
    if name.startswith("/") or (name[:1].isalpha() and name[1:2] == ":"):  # C:/...
        problem = "an absolute path"
    elif ".." in name.split("/"):
        problem = "leaves the folder it is unpacked into (..)"
    elif info.flag_bits & 0x1:
        problem = "encrypted"
    elif info.compress_type not in ZIP_METHODS:
        problem = f"compression method {info.compress_type} (only stored and deflate are read)"
    else:
        mode = info.external_attr >> 16 if info.create_system == 3 else 0  # 3: Unix
        if stat.S_ISLNK(mode):
            problem = "a symbolic link (a zip may hold files and folders only)"
        elif stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            problem = "a device, FIFO or socket (a zip may hold files and folders only)"
    if problem:
        raise BadArchive(f"unsafe member {info.filename!r}: {problem}")
    return PurePosixPath(*(part for part in name.split("/") if part not in ("", ".")))


def _write(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    """One member, read until one byte past the size its directory entry declares (zipfile
    would stop at that size, silently), and its CRC checked here (zipfile would check it at
    the probe's size, before the byte too many could be seen)."""
    probe = copy.copy(info)
    probe.file_size = info.file_size + 1
    del probe.CRC
    written, crc = 0, 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(probe) as source, target.open("xb") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise BadArchive(
                        f"{info.filename}: inflates past the {info.file_size} bytes it declares "
                        "(a zip bomb)"
                    )
                crc = zlib.crc32(chunk, crc)
                out.write(chunk)
    except (FileExistsError, NotADirectoryError):
        raise BadArchive(f"{info.filename}: in the zip file twice, or under a file") from None
    if written < info.file_size:
        raise BadArchive(f"{info.filename}: {written} bytes, not the {info.file_size} it declares")
    if crc != info.CRC:
        raise BadArchive(f"{info.filename}: its CRC-32 does not match its content")
