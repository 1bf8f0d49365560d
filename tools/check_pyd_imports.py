"""Checks a Windows wheel's extension module by its PE import table (objdump):
it may import only system DLLs and python3.dll (the stable ABI), and it must
import the ETW and TDH functions the live source calls, so that a build that
silently lost the live code fails here.

Usage: python tools/check_pyd_imports.py dist/pyetwkit-...-win_amd64.whl
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# What Windows itself provides (and python3.dll, which the interpreter does).
ALLOWED_DLLS = {
    "advapi32.dll",
    "bcrypt.dll",
    "bcryptprimitives.dll",
    "kernel32.dll",
    "ntdll.dll",
    "ole32.dll",
    "oleaut32.dll",
    "python3.dll",
    "tdh.dll",
    "userenv.dll",
    "ws2_32.dll",
    "msvcrt.dll",
}
ALLOWED_PREFIXES = ("api-ms-win-",)

# What the live source calls (crates/pyetwkit-live/src/native), by DLL.
REQUIRED = {
    "advapi32.dll": {
        "StartTraceW",
        "EnableTraceEx2",
        "ControlTraceW",
        "OpenTraceW",
        "ProcessTrace",
        "CloseTrace",
        "QueryAllTracesW",
    },
    "tdh.dll": {"TdhGetEventInformation", "TdhGetEventMapInformation", "TdhEnumerateProviders"},
    "kernel32.dll": {"OpenProcess", "GetExitCodeProcess"},
}

OBJDUMP = ("x86_64-w64-mingw32-objdump", "objdump")


def imports(pyd: Path) -> dict[str, set[str]]:
    """DLL name (lowercase) → the functions imported from it."""
    tool = next((t for t in OBJDUMP if shutil.which(t)), None)
    if tool is None:
        raise SystemExit("check_pyd_imports: no objdump (apt install binutils-mingw-w64-x86-64)")
    text = subprocess.run([tool, "-p", str(pyd)], capture_output=True, text=True, check=True)
    table: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in text.stdout.splitlines():
        dll = re.match(r"\s*DLL Name:\s*(\S+)", line)
        if dll:
            current = table.setdefault(dll.group(1).lower(), set())
            continue
        member = re.match(r"\s+[0-9a-fA-F]+\s+\d+\s+(\w+)\s*$", line)
        if member and current is not None:
            current.add(member.group(1))
    return table


def main(wheel: str) -> int:
    with zipfile.ZipFile(wheel) as whl, tempfile.TemporaryDirectory() as tmp:
        whl.extract("pyetwkit/_core.pyd", tmp)
        table = imports(Path(tmp) / "pyetwkit" / "_core.pyd")
    problems = [
        f"imports {dll}, which is neither a system DLL nor python3.dll"
        for dll in sorted(table)
        if dll not in ALLOWED_DLLS and not dll.startswith(ALLOWED_PREFIXES)
    ]
    for dll, wanted in REQUIRED.items():
        missing = wanted - table.get(dll, set())
        if missing:
            problems.append(f"does not import {', '.join(sorted(missing))} from {dll}")
    if "python3.dll" not in table:
        problems.append("does not import python3.dll (the stable ABI)")
    for p in problems:
        print(f"check_pyd_imports: {wheel}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{wheel}: imports {', '.join(sorted(table))}; the ETW and TDH calls are there")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))
