#!/usr/bin/env bash
# Regenerates the Python code and mypy stubs for every .proto under proto/src.
# The output is committed; `scripts/gen-protos.sh --check` (run by CI) fails when
# regenerating would change anything. Tools are pinned in constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
src=proto/src
out=$src
if [[ "${1:-}" == "--check" ]]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
mapfile -t protos < <(cd $src && find pyd_proto -name '*.proto' | sort)
if [[ "$out" == "$src" ]]; then
    find $src/pyd_proto \( -name '*_pb2.py' -o -name '*_pb2.pyi' -o -name '*_pb2_grpc.py' -o -name '*_pb2_grpc.pyi' \) -delete
fi
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
if [[ "$out" != "$src" ]]; then
    # Compare only generated files and package markers.
    if ! diff -q \
        <(cd "$out" && find pyd_proto -name '*_pb2*' -exec sha256sum {} + | sort -k2) \
        <(cd $src && find pyd_proto -name '*_pb2*' -exec sha256sum {} + | sort -k2) >/dev/null; then
        echo "gen-protos: generated code is stale; run scripts/gen-protos.sh and commit" >&2
        diff <(cd "$out" && find pyd_proto -name '*_pb2*' -exec sha256sum {} + | sort -k2) \
             <(cd $src && find pyd_proto -name '*_pb2*' -exec sha256sum {} + | sort -k2) >&2 || true
        exit 1
    fi
    echo "gen-protos: generated code is fresh" >&2
fi
