#!/usr/bin/env python3
"""Checks that the inference-only libraries hold nothing from autograd or training, and no zlib.

  check_inference_symbols.py --nm NM --lib LIB... --control LIB
                             --forbidden-objects OBJ... [--readelf READELF]

The forbidden symbols are the global, non-weak definitions of the objects given (the
tessera_autograd and tessera_training layers' objects, passed in by CMake), so the check
follows the code as it moves. For each --lib (libtessera_inference.a / .so) it fails when
the library defines any of them, refers to zlib (gz*, inflate*, deflate*...) or, for a
shared object, records libz as NEEDED. --control (libtessera.a, which has everything) must
define some forbidden symbols, or the check itself would be vacuous. Prints the counts.
"""
import argparse
import re
import subprocess
import sys

# Undefined references that mean zlib is needed (its API: gz* files, the streams, checksums).
ZLIB_SYMBOL = re.compile(r"^(gz[a-z]+|inflate[A-Za-z]*|deflate[A-Za-z]*|zlibVersion|"
                         r"compress2?|uncompress2?|crc32|adler32)(@.*)?$")


def nm_lines(nm, path, *flags):
    out = subprocess.run([nm, "-C", *flags, path], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"check_inference_symbols: '{nm} {' '.join(flags)} {path}' failed: {out.stderr}")
    return out.stdout.splitlines()


def defined_globals(nm, path, hidden_too=False):
    """Global strong definitions (text, data, bss, read-only): weak ones (inline functions,
    template instances) may legitimately appear in any layer. In a shared object built with
    -fvisibility=hidden, every symbol not marked TESSERA_API is local (lower-case type), so
    hidden_too counts those as well."""
    kinds = ("T", "D", "B", "R") + (("t", "d", "b", "r") if hidden_too else ())
    syms = set()
    for line in nm_lines(nm, path, "--defined-only"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in kinds:
            syms.add(parts[2])
    return syms


def undefined(nm, path):
    return {line.split()[-1] for line in nm_lines(nm, path, "-u") if line.strip()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nm", required=True)
    ap.add_argument("--readelf", default="readelf")
    ap.add_argument("--lib", action="append", required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--forbidden-objects", nargs="+", required=True)
    args = ap.parse_args()

    forbidden = set()
    for obj in args.forbidden_objects:
        forbidden |= defined_globals(args.nm, obj)
    print(f"forbidden: {len(forbidden)} symbols defined by {len(args.forbidden_objects)} "
          "autograd/training objects")
    if len(forbidden) < 50:
        sys.exit("check_inference_symbols: too few forbidden symbols; are the objects right?")

    control = defined_globals(args.nm, args.control) & forbidden
    print(f"control {args.control}: defines {len(control)} of them (the full library must)")
    if not control:
        sys.exit("check_inference_symbols: the full library defines none of the forbidden "
                 "symbols, so this check could not catch anything")

    failed = False
    for lib in args.lib:
        defs = defined_globals(args.nm, lib, hidden_too=".so" in lib)
        leaked = sorted(defs & forbidden)
        zlib = sorted(s for s in undefined(args.nm, lib) if ZLIB_SYMBOL.match(s))
        needed = []
        if ".so" in lib:
            dyn = subprocess.run([args.readelf, "-d", lib], capture_output=True, text=True).stdout
            needed = re.findall(r"\(NEEDED\).*\[(.*)\]", dyn)
            if not needed:
                sys.exit(f"check_inference_symbols: no NEEDED entries read from {lib}")
        zlib_needed = [n for n in needed if n.startswith("libz.")]
        print(f"{lib}: {len(defs)} symbols defined, {len(leaked)} from autograd/training, "
              f"{len(zlib)} zlib references" + (f", NEEDED: {' '.join(needed)}" if needed else ""))
        for s in leaked[:20]:
            print(f"  defines {s}")
        for s in zlib[:20]:
            print(f"  refers to zlib: {s}")
        if leaked or zlib or zlib_needed:
            failed = True
    if failed:
        sys.exit("check_inference_symbols: the inference library holds autograd/training code "
                 "or needs zlib (docs/architecture.md, 'Layers and CMake targets')")
    print("check_inference_symbols: ok")


if __name__ == "__main__":
    main()
