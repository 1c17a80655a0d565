#!/usr/bin/env python3
"""The PyPI wheel of better-auth-mcp, made from a binary already built (packaging/pack
runs it): no build backend and no second build of the binary.

    python3 packaging/python/build_wheel.py BINARY TRIPLE VERSION OUT_DIR

prints the wheel's path. The wheel holds the binary as a script of the distribution
(`<name>-<version>.data/scripts/better-auth-mcp[.exe]`, which pip and uv put on the
environment's PATH, as maturin's `bindings = "bin"` does) and its dist-info: METADATA from
pyproject.toml next to this file (the version is VERSION, the crate's), WHEEL, the license
and RECORD with sha256 hashes. Its platform tag is read from the binary itself:

- Linux (glibc): manylinux_X_Y, X.Y the newest GLIBC_ symbol version the binary requires
  (weak references left out), never below 2.17 (manylinux2014, also written as a tag);
  Linux (musl): musllinux_1_2.
- macOS: macosx_X_Y from the binary's minimum OS version (LC_BUILD_VERSION), else Rust's
  defaults, 10.12 for x86_64 and 11.0 for arm64; from 11 on, macosx_X_0 as pip matches.
- Windows: win_amd64 (win_arm64 for aarch64).

Needs Python 3.8 or later, nothing but its standard library.
"""

import base64
import hashlib
import os
import re
import struct
import sys
import time
import zipfile

try:
    import tomllib
except ModuleNotFoundError:  # Python before 3.11
    tomllib = None

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GLIBC_FLOOR = (2, 17)


def read_pyproject(path):
    """pyproject.toml's [project] table: tomllib's reading, or before Python 3.11 the
    subset this file uses (tables, strings, arrays of strings)."""
    with open(path, "rb") as f:
        text = f.read()
    if tomllib:
        return tomllib.loads(text.decode())["project"]
    import ast

    tables, table, pending = {}, None, ""
    for line in text.decode().splitlines():
        line = pending + line.strip() if pending else line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and not pending and "=" not in line:
            table = tables.setdefault(line.strip("[]").strip(), {})
            continue
        if line.count("[") > line.count("]"):  # an array that goes on
            pending = line + " "
            continue
        pending = ""
        key, value = (part.strip() for part in line.split("=", 1))
        table[key.strip('"')] = ast.literal_eval(value)
    project = tables["project"]
    project["urls"] = tables.get("project.urls", {})
    return project


def cstr(data, offset):
    return data[offset : data.index(b"\0", offset)].decode("ascii", "replace")


def glibc_required(data):
    """The newest GLIBC_X.Y that an ELF64 little-endian binary requires (its verneed
    entries not marked weak), or None when it requires none (static, or musl)."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit("pack: the binary is not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, ...
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
        for i in range(shnum if shoff else 0)
    ]
    needed = [s for s in sections if s[1] == 0x6FFFFFFE]  # SHT_GNU_verneed
    if not needed:
        # No section headers to go by: every GLIBC_ version named in the file, which
        # can only overstate what the binary needs.
        found = re.findall(rb"GLIBC_(\d+)\.(\d+)(?:\.\d+)?\0", data)
        return max(((int(a), int(b)) for a, b in found), default=None)
    newest = None
    for section in needed:
        strings = sections[section[6]][4]
        entry = section[4]
        for _ in range(section[7]):  # sh_info: the number of Verneed entries
            _, count, _, aux, next_entry = struct.unpack_from("<HHIII", data, entry)
            at = entry + aux
            for _ in range(count):
                _, flags, _, name, next_aux = struct.unpack_from("<IHHII", data, at)
                version = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", cstr(data, strings + name))
                if version and not flags & 0x2:  # VER_FLG_WEAK
                    version = (int(version[1]), int(version[2]))
                    newest = version if newest is None else max(newest, version)
                if not next_aux:
                    break
                at += next_aux
            if not next_entry:
                break
            entry += next_entry
    return newest


def macos_minimum(data):
    """The minimum macOS version of a 64-bit Mach-O binary, or None when it names none."""
    magic, _, _, _, ncmds = struct.unpack_from("<IiiII", data, 0)
    if magic != 0xFEEDFACF:
        sys.exit("pack: the binary is not a 64-bit (thin) Mach-O file")
    at = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, at)
        if cmd == 0x32:  # LC_BUILD_VERSION: platform, minos
            platform, minos = struct.unpack_from("<II", data, at + 8)
            if platform == 1:  # PLATFORM_MACOS
                return minos >> 16, (minos >> 8) & 0xFF
        elif cmd == 0x24:  # LC_VERSION_MIN_MACOSX: version
            (minos,) = struct.unpack_from("<I", data, at + 8)
            return minos >> 16, (minos >> 8) & 0xFF
        at += size
    return None


def platform_tags(data, triple):
    arch = triple.split("-")[0]
    if "-linux-" in triple:
        if triple.endswith("musl"):
            return [f"musllinux_1_2_{arch}"]
        major, minor = max(glibc_required(data) or GLIBC_FLOOR, GLIBC_FLOOR)
        tags = [f"manylinux_{major}_{minor}_{arch}"]
        if (major, minor) == (2, 17):
            tags.append(f"manylinux2014_{arch}")
        return tags
    if triple.endswith("-apple-darwin"):
        arch = {"aarch64": "arm64"}.get(arch, arch)
        default = (11, 0) if arch == "arm64" else (10, 12)
        major, minor = macos_minimum(data) or default
        return [f"macosx_{major}_{0 if major >= 11 else minor}_{arch}"]
    if "-windows-" in triple:
        return [{"x86_64": "win_amd64", "aarch64": "win_arm64"}[arch]]
    sys.exit(f"pack: no wheel platform tag for {triple}")


def metadata(project, version, license_file):
    lines = [
        "Metadata-Version: 2.4",
        f"Name: {project['name']}",
        f"Version: {version}",
    ]
    if "description" in project:
        lines.append(f"Summary: {project['description']}")
    if project.get("keywords"):
        lines.append(f"Keywords: {','.join(project['keywords'])}")
    lines += [f"Classifier: {c}" for c in project.get("classifiers", [])]
    lines += [f"Project-URL: {k}, {v}" for k, v in project.get("urls", {}).items()]
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    license = project.get("license")
    if isinstance(license, str):
        lines.append(f"License-Expression: {license}")
    elif isinstance(license, dict) and "text" in license:
        lines.append(f"License: {license['text']}")
    if license_file:
        lines.append(f"License-File: {license_file}")
    body = ""
    readme = project.get("readme")
    if isinstance(readme, str):
        kind = {".md": "text/markdown", ".rst": "text/x-rst"}.get(
            os.path.splitext(readme)[1].lower(), "text/plain"
        )
        lines.append(f"Description-Content-Type: {kind}")
        with open(os.path.join(HERE, readme), encoding="utf-8") as f:
            body = f.read()
    return "\n".join(lines) + "\n\n" + body


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    binary, triple, version, out = sys.argv[1:]
    with open(binary, "rb") as f:
        exe = f.read()
    tags = platform_tags(exe, triple)
    project = read_pyproject(os.path.join(HERE, "pyproject.toml"))
    dist = re.sub(r"[-_.]+", "_", project["name"]).lower()
    data_dir, info = f"{dist}-{version}.data", f"{dist}-{version}.dist-info"
    script = "better-auth-mcp.exe" if "-windows-" in triple else "better-auth-mcp"
    license_path = os.path.join(ROOT, "LICENSE")
    has_license = os.path.exists(license_path)

    files = [(f"{data_dir}/scripts/{script}", exe, 0o755)]
    files.append((f"{info}/METADATA", metadata(project, version, has_license and "LICENSE").encode(), 0o644))
    wheel = ["Wheel-Version: 1.0", "Generator: better-auth-mcp packaging/pack", "Root-Is-Purelib: false"]
    files.append((f"{info}/WHEEL", ("\n".join(wheel + [f"Tag: py3-none-{t}" for t in tags]) + "\n").encode(), 0o644))
    if has_license:
        with open(license_path, "rb") as f:
            files.append((f"{info}/licenses/LICENSE", f.read(), 0o644))
    record = []
    for name, content, _ in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(content)}")
    record.append(f"{info}/RECORD,,")
    files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode(), 0o644))

    path = os.path.join(out, f"{dist}-{version}-py3-none-{'.'.join(tags)}.whl")
    # Reproducible: every entry dated SOURCE_DATE_EPOCH (zip's earliest date by default).
    when = time.gmtime(max(int(os.environ.get("SOURCE_DATE_EPOCH", 0)), 315532800))[:6]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, content, mode in files:
            entry = zipfile.ZipInfo(name, when)
            entry.external_attr = (0o100000 | mode) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            whl.writestr(entry, content)
    print(path)


if __name__ == "__main__":
    main()
