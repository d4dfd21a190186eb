# syntax=docker/dockerfile:1
# The ksec image: one binary for the SealedSecret controller (`ksec controller`), the KMS
# v2 plugin (`ksec kms serve`) and the command line. Used by deploy/controller,
# deploy/kms-plugin and the Helm charts in deploy/helm.
#
#   docker build -t ghcr.io/ksec-dev/ksec:0.1.0 .
#
# The runtime base is distroless with glibc (not a static binary): the KMS plugin
# dlopen()s the vendor's PKCS#11 module, which needs the C library's loader. It has no
# shell and no package manager, and runs as the distroless "nonroot" user (65532); the
# manifests may pick another UID (the controller chart uses 1001).
# Not built in this repository's tests (no container runtime there); a test checks that
# what it copies is what a build makes.

ARG RUST_VERSION=1.89

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY crates crates
ENV CARGO_TARGET_DIR=/src/target
# The controller (default feature) and the PKCS#11 key backend; no protoc needed (the
# KMS protos are compiled by protox).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked -p ksec --features pkcs11

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/ksec /usr/local/bin/ksec
COPY LICENSE /usr/share/doc/ksec/LICENSE
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ksec"]
