#!/usr/bin/env bash
# Creates the virtual environment .venv with a Python that can run MXNet 1.9.1 (3.8 to 3.11)
# and installs requirements.txt into it. Set PYTHON=/path/to/python3.11 to choose the Python,
# VENV=dir to put the environment elsewhere.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}

supported() {  # exit status 0 if "$1" is a Python 3.8 to 3.11
  "$1" -c 'import sys; sys.exit(not (3, 8) <= sys.version_info[:2] <= (3, 11))' 2>/dev/null
}

python=""
for candidate in ${PYTHON:-} python3.11 python3.10 python3.9 python3.8 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && supported "$candidate"; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  found=$( (command -v python3 >/dev/null && python3 --version) 2>&1 || echo 'no python3')
  echo "error: d2l-deep-rnn needs Python 3.8 to 3.11, because MXNet 1.9.1 (its last release)" \
       "cannot run on Python 3.12 or newer; found: ${found}. Install Python 3.11" \
       "(for example 'pyenv install 3.11' or your distribution's python3.11-venv) and run" \
       "this again, or point PYTHON= at it." >&2
  exit 2
fi

echo "Creating $VENV with $python ($("$python" --version 2>&1))"
"$python" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
echo "Installed d2l-deep-rnn into $VENV"
