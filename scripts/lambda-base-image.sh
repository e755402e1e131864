#!/usr/bin/env bash
# Makes the Lambda base image that `sam local invoke` runs the functions in available to Docker:
#   public.ecr.aws/lambda/python:3.13-<arch>
# It pulls the real image when the registry answers. Where it cannot be reached, it builds a stand-in under the
# same name: a Debian trixie root file system (its python3 is 3.13, the runtime's version), the AWS Lambda
# runtime interface client and boto3 in /var/runtime, and /var/runtime/bootstrap, which the runtime interface
# emulator that SAM CLI adds to the image starts. The stand-in is labelled with a digest of this script, and the
# root file system is cached (LAMBDA_BASE_IMAGE_CACHE), so a second run takes seconds.
#
# usage: scripts/lambda-base-image.sh [x86_64|arm64]   (default: this machine's architecture)
# An arm64 stand-in on an x86_64 machine needs qemu-user-static and binfmt_misc (apt-get install
# qemu-user-static binfmt-support) and runs the functions emulated: minutes per invocation.
set -euo pipefail

# Pinned: what the stand-in holds. The Lambda runtime ships its own boto3; this is a recent one.
DEBIAN_SUITE=trixie
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
AWSLAMBDARIC_VERSION=4.2.2
BOTO3_VERSION=1.43.108
BOTOCORE_VERSION=1.43.127
PULL_TIMEOUT_SECONDS=${PULL_TIMEOUT_SECONDS:-60}

arch=${1:-$(uname -m)}
case "$arch" in
  x86_64 | amd64) arch=x86_64 debian_arch=amd64 platform=linux/amd64 wheel_platform=manylinux2014_x86_64 ;;
  arm64 | aarch64) arch=arm64 debian_arch=arm64 platform=linux/arm64 wheel_platform=manylinux2014_aarch64 ;;
  *) echo "unknown architecture '$arch': use x86_64 or arm64" >&2; exit 2 ;;
esac
image=public.ecr.aws/lambda/python:3.13-$arch
here=$(cd "$(dirname "$0")" && pwd)
recipe=$(sha256sum "$here/$(basename "$0")" | cut -c1-16)
cache=${LAMBDA_BASE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lambda-base-image}/$recipe-$arch
# Installs the wheels and compiles their bytecode, which only a Python 3.13 makes usable: the project's .venv.
python=${PYTHON:-$here/../.venv/bin/python}
[[ -x "$python" ]] || python=python3

say() { echo "lambda-base-image: $*" >&2; }

docker info >/dev/null 2>&1 || { say "no container engine answers (docker info failed): start Docker first"; exit 1; }

if docker image inspect "$image" >/dev/null 2>&1; then
  built_from=$(docker image inspect --format '{{ index .Config.Labels "stand-in.recipe" }}' "$image")
  if [[ -z "$built_from" ]]; then
    say "$image: the registry's image is present"
    exit 0
  elif [[ "$built_from" == "$recipe" ]]; then
    say "$image: the stand-in of this recipe is present"
    exit 0
  fi
  say "$image: a stand-in of another recipe ($built_from) is present: rebuilding"
fi

if timeout "$PULL_TIMEOUT_SECONDS" docker pull --platform "$platform" "$image" >/dev/null 2>&1; then
  say "$image: pulled from the registry"
  exit 0
fi
say "$image cannot be pulled: building the stand-in (cache: $cache)"

command -v debootstrap >/dev/null || { say "debootstrap is missing: apt-get install debootstrap"; exit 1; }
mkdir -p "$cache"
if [[ ! -s "$cache/rootfs.tar" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  rootfs=$work/rootfs
  say "debootstrap $DEBIAN_SUITE ($debian_arch) from $DEBIAN_MIRROR"
  if [[ "$debian_arch" == "$(dpkg --print-architecture)" ]]; then
    debootstrap --variant=minbase --include=python3,ca-certificates --arch="$debian_arch" \
      "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  else
    # A foreign architecture: the second stage runs the target's binaries through qemu's binfmt handler.
    debootstrap --foreign --variant=minbase --include=python3,ca-certificates --arch="$debian_arch" \
      "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    chroot "$rootfs" /debootstrap/debootstrap --second-stage >>"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

  # Wheels for the target's platform, installed from here: no need to run the target's python.
  "$python" -m pip install --quiet --no-compile --only-binary=:all: --platform "$wheel_platform" \
    --python-version 3.13 --implementation cp --target "$rootfs/var/runtime" \
    "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION" "botocore==$BOTOCORE_VERSION"
  # Bytecode made now, not at each cold start: under emulation compiling botocore takes minutes.
  "$python" -m compileall -q -j 0 "$rootfs/var/runtime" >/dev/null

  cat >"$rootfs/var/runtime/bootstrap" <<'EOF'
#!/bin/sh
# Started by the runtime interface emulator; the handler comes from the function's configuration.
export AWS_EXECUTION_ENV=AWS_Lambda_python3.13
exec /usr/bin/python3 -m awslambdaric "${_HANDLER:-$AWS_LAMBDA_FUNCTION_HANDLER}"
EOF
  chmod 755 "$rootfs/var/runtime/bootstrap"
  mkdir -p "$rootfs/var/task" "$rootfs/opt"
  tar -C "$rootfs" -cf "$cache/rootfs.tar.partial" .
  mv "$cache/rootfs.tar.partial" "$cache/rootfs.tar"
fi

# FROM scratch with ADD: `docker import --platform` would label the image with this machine's architecture.
cat >"$cache/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV LANG=C.UTF-8 TZ=:/etc/localtime PATH=/usr/local/bin:/usr/bin:/bin \
    LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime PYTHONPATH=/var/runtime
WORKDIR /var/task
LABEL stand-in.recipe=$recipe stand-in.of=$image
ENTRYPOINT ["/var/runtime/bootstrap"]
EOF
DOCKER_BUILDKIT=0 docker build --quiet --platform "$platform" -t "$image" "$cache" >/dev/null
say "$image: stand-in built"
