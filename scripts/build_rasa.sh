#!/usr/bin/env bash
# Build open-source Rasa 3.6.21 in a virtualenv of its own, for bench/nlu_vs_rasa.py and for
# trying gridbot's Rasa backend (GRIDBOT_NLU_BACKEND=rasa) against a real Rasa server.
#
#   scripts/build_rasa.sh [DIR]        # DIR defaults to var/rasa-venv
#
# This never touches gridbot's own .venv and is not part of `make test`. It downloads
# TensorFlow and friends (about 1.5 GB) and takes 10-30 minutes.
#
# Rasa 3.6.21 declares Requires-Python <3.11 and puts python_version < "3.11" markers on its
# numpy, scipy, scikit-learn and dask requirements. On Python 3.11 it installs with:
#   * pip's --ignore-requires-python;
#   * scripts/rasa-constraints.txt pinning numpy 1.23.5, scipy 1.10.1, scikit-learn 1.1.3,
#     dask 2022.10.2, jax 0.4.13 and ml-dtypes 0.2.0, and naming numpy, scipy, scikit-learn
#     and dask on the command line since no marker pulls them in any more;
#   * matplotlib 3.5.3 (Rasa wants <3.6; there is no 3.11 wheel of it) compiled from its sdist
#     against Debian's libfreetype-dev and libqhull-dev, so that its build does not try to
#     download freetype and qhull: an mplsetup.cfg with system_freetype/system_qhull, passed
#     through MPLSETUPCFG, and no build isolation so it compiles against the pinned numpy.
# Finally it checks that `import rasa` works and that the benchmark's pipeline config validates.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${1:-$ROOT/var/rasa-venv}"
PYTHON="${PYTHON:-python3.11}"
CONSTRAINTS="$ROOT/scripts/rasa-constraints.txt"
RASA_VERSION="3.6.21"

log() { printf '[build_rasa] %s\n' "$*" >&2; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    log "error: $PYTHON not found (set PYTHON=/path/to/python3.11)"
    exit 2
fi
if [ "$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "3.11" ]; then
    log "warning: $PYTHON is not Python 3.11; the pins here are made for 3.11"
fi

# System libraries for matplotlib's C extensions.
need_apt=()
for pkg in libfreetype-dev libqhull-dev pkg-config g++; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# Debian's own python3.11 needs its headers (to compile matplotlib) and ensurepip (for venv).
PYINC="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
[ -f "$PYINC/Python.h" ] || need_apt+=(python3-dev)
"$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" = "0" ]; then
        log "apt-get install ${need_apt[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
        log "error: install these Debian packages first (as root): ${need_apt[*]}"
        exit 2
    fi
fi

if [ ! -x "$DIR/bin/python" ]; then
    log "creating $DIR"
    "$PYTHON" -m venv "$DIR"
fi
PIP=("$DIR/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install --quiet --upgrade pip
"${PIP[@]}" install --quiet -c "$CONSTRAINTS" wheel packaging

# Build tools and numpy first: matplotlib is compiled against exactly the pinned numpy.
log "installing numpy and build tools"
"${PIP[@]}" install --quiet -c "$CONSTRAINTS" numpy setuptools "setuptools_scm>=4,<7" certifi

log "building matplotlib 3.5.3 against the system freetype and qhull"
MPLCFG="$(mktemp -d)/mplsetup.cfg"
cat >"$MPLCFG" <<'CFG'
[libs]
system_freetype = True
system_qhull = True
CFG
MPLSETUPCFG="$MPLCFG" "${PIP[@]}" install --quiet --no-build-isolation \
    --no-binary matplotlib -c "$CONSTRAINTS" matplotlib
rm -rf "$(dirname "$MPLCFG")"

log "installing rasa $RASA_VERSION (TensorFlow 2.12 included; this is the long part)"
"${PIP[@]}" install --quiet --ignore-requires-python -c "$CONSTRAINTS" \
    "rasa[jieba]==$RASA_VERSION" numpy scipy scikit-learn dask jax ml-dtypes matplotlib

log "checking the install"
"$DIR/bin/python" - <<'PY'
import warnings

warnings.filterwarnings("ignore")
import matplotlib
import numpy
import rasa
import sklearn
import tensorflow

print(f"rasa {rasa.__version__}, tensorflow {tensorflow.__version__}, numpy {numpy.__version__}, "
      f"scikit-learn {sklearn.__version__}, matplotlib {matplotlib.__version__}")
PY
"$DIR/bin/rasa" --version >/dev/null
log "done: $DIR/bin/rasa"
