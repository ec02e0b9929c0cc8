#!/usr/bin/env bash
# Creates the virtual environment .venv with a Python that can run MXNet 1.9.1 (3.8 to 3.13)
# and installs requirements.txt into it, then d2l 1.0.3 (the book's library) without its
# pins on Python 3.12+ (see package-requirements.txt). PYTHON=/path/to/python chooses the
# Python (else python3 if it fits, else the newest python3.X found), VENV=dir puts the
# environment elsewhere, CUDA=117 installs MXNet's CUDA 11.7 build and CUDA's libraries
# as wheels (cuda-requirements.txt; 3.4 GB installed) instead of the CPU build.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
CUDA=${CUDA:-}
if [ -n "$CUDA" ] && [ "$CUDA" != 117 ]; then
  echo "error: CUDA=$CUDA: only CUDA=117 (mxnet-cu117) installs from the registry alone:" \
       "CUDA's libraries are there as CUDA 11.7 wheels, which any NVIDIA driver from 450.80.02" \
       "on runs. Use CUDA=117, or no CUDA= for the CPU build." >&2
  exit 2
fi

version() {  # "3.12" for a Python 3.8 to 3.13, nothing (and exit status 1) for any other
  "$1" -c 'import sys; v = sys.version_info[:2]; ok = (3, 8) <= v <= (3, 13); ok or sys.exit(1)
print("%d.%d" % v)' 2>/dev/null
}

python=""
for candidate in ${PYTHON:-python3 python3.13 python3.12 python3.11 python3.10 python3.9 python3.8}; do
  if command -v "$candidate" >/dev/null 2>&1 && v=$(version "$candidate"); then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  found=$( ("${PYTHON:-python3}" --version) 2>&1 | head -n 1 || true)  # one line (pyenv: more)
  echo "error: d2l-deep-rnn needs Python 3.8 to 3.13 (MXNet 1.9.1, its last release, needs" \
       "NumPy 1.x, which ends there); found: ${found:-no python3}. Install one (for example" \
       "'pyenv install 3.12' or your distribution's python3-venv) and run this again, or" \
       "point PYTHON= at it." >&2
  exit 2
fi
# MXNet 1.9.1's wheels: Linux x86_64 and aarch64, macOS x86_64 (none for Windows or for
# Apple Silicon); the CUDA build, Linux x86_64 only. Asked of the chosen Python, whose
# platform is the one pip installs for (an x86_64 Python under Rosetta 2 says x86_64).
where=$("$python" -c 'import platform, sys; print(sys.platform, platform.machine().lower())')
case "$where" in
  "linux x86_64"|"linux amd64") ;;
  "linux aarch64"|"linux arm64"|"darwin x86_64")
    if [ -n "$CUDA" ]; then
      echo "error: CUDA=$CUDA: MXNet's CUDA build (mxnet-cu117) exists for Linux on x86_64" \
           "only; this Python runs on $where. Run ./setup.sh without CUDA= for the CPU build." >&2
      exit 2
    fi ;;
  "darwin arm64")
    echo "error: MXNet 1.9.1, its last release, has no build for macOS on Apple Silicon" \
         "(this Python is darwin arm64): use an x86_64 Python under Rosetta 2 (MXNet's macOS" \
         "x86_64 build), or a Linux container or virtual machine (on aarch64 MXNet needs Arm" \
         "Performance Libraries: see docs/machines.md)." >&2
    exit 2 ;;
  win32*|cygwin*|msys*)
    echo "error: MXNet 1.9.1, its last release, has no build for Windows ($where): install" \
         "WSL 2 with Ubuntu (wsl --install) and run ./setup.sh in its Linux shell." >&2
    exit 2 ;;
  *)
    echo "error: MXNet 1.9.1, its last release, has builds for Linux on x86_64 and aarch64" \
         "and macOS on x86_64 only; this Python runs on $where." >&2
    exit 2 ;;
esac
if [ "$v" = 3.13 ] && ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
  echo "error: on Python 3.13 pip builds NumPy 1.26 from source (it has no wheel there), which" \
       "needs a C compiler: install one (Debian/Ubuntu: apt install build-essential" \
       "python3-dev) or use Python 3.12 or older (PYTHON=python3.12 ./setup.sh)." >&2
  exit 2
fi

echo "Creating $VENV with $python ($("$python" --version 2>&1))"
"$python" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
if [ "$v" = 3.13 ]; then
  echo "Python 3.13: building NumPy 1.26.4 from source (a few minutes, once: pip caches it)"
fi
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
if [ "${v#3.}" -ge 12 ]; then  # d2l 1.0.3's pins have no wheels here: requirements.txt
  "$VENV/bin/python" -m pip install --quiet --no-deps d2l==1.0.3
fi
if [ -n "$CUDA" ]; then  # the CUDA build replaces the CPU one (both are the module mxnet)
  echo "CUDA 11.7: mxnet-cu117 and CUDA's libraries as wheels (3.4 GB installed)"
  "$VENV/bin/python" -m pip uninstall --quiet --yes mxnet
  "$VENV/bin/python" -m pip install --quiet -r cuda-requirements.txt
fi
echo "Installed d2l-deep-rnn into $VENV"
