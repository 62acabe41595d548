#!/usr/bin/env bash
# Regenerates the Python code and mypy stubs for every .proto under proto/src.
# The output is committed; `scripts/gen-protos.sh --check` (run by CI) fails when
# regenerating would change anything. Tools are pinned in constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
src=proto/src
check=0
[[ "${1:-}" == "--check" ]] && check=1
# Always generate into a scratch tree, then compare or copy: the real tree is never
# left without generated code if protoc fails half way.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mapfile -t protos < <(cd $src && find pyd_proto -name '*.proto' | sort)
# mypy-protobuf's plugins come from the venv.
PATH="$PWD/.venv/bin:$PATH" $py -m grpc_tools.protoc -I $src \
    --python_out="$out" --grpc_python_out="$out" \
    --mypy_out="$out" --mypy_grpc_out="$out" \
    "${protos[@]}" 2> >(grep -v "^Writing mypy to" >&2)
# Every folder holding generated code is a regular package.
for p in "${protos[@]}"; do
    d=$(dirname "$p")
    while [[ "$d" != "." ]]; do
        [[ -f "$out/$d/__init__.py" ]] || : > "$out/$d/__init__.py"
        d=$(dirname "$d")
    done
done
generated() {
    (cd "$1" && find pyd_proto -path '*/__pycache__' -prune -o \
        \( -name '*_pb2.py' -o -name '*_pb2.pyi' -o -name '*_pb2_grpc.py' -o -name '*_pb2_grpc.pyi' \) \
        -print | sort | xargs sha256sum)
}
if [[ $check == 1 ]]; then
    if ! diff -q <(generated "$out") <(generated $src) >/dev/null; then
        echo "gen-protos: generated code is stale; run scripts/gen-protos.sh and commit" >&2
        diff <(generated "$out") <(generated $src) >&2 || true
        exit 1
    fi
    echo "gen-protos: generated code is fresh" >&2
    exit 0
fi
# Replace the old generated files with the new ones (stale ones from removed .protos go).
(cd $src && find pyd_proto -path '*/__pycache__' -prune -o \
    \( -name '*_pb2.py' -o -name '*_pb2.pyi' -o -name '*_pb2_grpc.py' -o -name '*_pb2_grpc.pyi' \) \
    -print) | while read -r f; do [[ -e "$out/$f" ]] || rm -f "$src/$f"; done
(cd "$out" && find pyd_proto -type f) | while read -r f; do
    mkdir -p "$src/$(dirname "$f")"
    # A package's own __init__.py (e.g. API_VERSION) is never replaced by an empty one.
    if [[ "$(basename "$f")" == "__init__.py" ]]; then
        [[ -e "$src/$f" ]] || cp "$out/$f" "$src/$f"
        continue
    fi
    cmp -s "$out/$f" "$src/$f" || cp "$out/$f" "$src/$f"
done
