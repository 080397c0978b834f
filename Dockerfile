# Dockerfile: the image of cdtm's four programs (dtm, order-srv, stock-srv,
# order-api) plus `probe`, the healthcheck tool. docker-compose.yml runs one
# container per program from this one image; docker/mariadb.Dockerfile makes
# the database next to them.
#
# Everything starts from a plain Debian image named by BASE_IMAGE, so that a
# base imported locally works where no registry can be reached
# (scripts/compose-smoke.sh makes local/bookworm:minbase with debootstrap).
# Any Debian-like image with apt works: --build-arg BASE_IMAGE=debian:bookworm-slim.
#
# Three stages:
#   builder  the compilers and -dev packages; a Release build of the executables only;
#   runtime  the shared libraries those executables load (found with ldd, see
#            docker/runtime-packages.sh), the stripped binaries and sample configs;
#   etcd     Debian's etcd (etcd-server, etcd-client), the registry of the stack.
# Works with the legacy builder (no BuildKit features).
ARG BASE_IMAGE=local/bookworm:minbase

# ---- builder ----------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake make gcc libc6-dev pkg-config binutils \
      libgrpc-dev libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler \
      libjansson-dev libcivetweb-dev libyaml-dev libmariadb-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Sources only (see .dockerignore); the tests' harness files are needed because
# CMakeLists.txt configures the test library, though nothing of it is built.
COPY CMakeLists.txt ./
COPY proto/ proto/
COPY common/ common/
COPY dtm/ dtm/
COPY order-srv/ order-srv/
COPY stock-srv/ stock-srv/
COPY order-api/ order-api/
COPY probe/ probe/
COPY tests/*.c tests/*.h tests/
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build -j"$(nproc)" --target dtm order-srv stock-srv order-api probe \
 && mkdir -p /out/bin \
 && cd /build && cp dtm order-srv stock-srv order-api probe /out/bin/ \
 && strip /out/bin/*

COPY docker/runtime-packages.sh /usr/local/bin/
RUN runtime-packages.sh /out/bin/* >/out/runtime-packages && cat /out/runtime-packages

# ---- runtime ----------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=builder /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && xargs -a /tmp/runtime-packages apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /tmp/runtime-packages \
 && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cdtm

COPY --from=builder /out/bin/ /usr/local/bin/
# The repository's sample configs. They bind 127.0.0.1 and name 127.0.0.1
# peers; a container overrides those keys from the environment (BIND_ADDRESS,
# LISTEN_ON, STORE_HOST, DB_DATA_SOURCE, ...: see docker-compose.yml).
COPY dtm/etc/conf.yml /etc/cdtm/dtm.yml
COPY order-srv/etc/order.yaml /etc/cdtm/order-srv.yaml
COPY stock-srv/etc/stock.yaml /etc/cdtm/stock-srv.yaml
COPY order-api/etc/order.yaml /etc/cdtm/order-api.yaml

USER cdtm
WORKDIR /etc/cdtm
# 36789/36790 dtm (HTTP/gRPC), 9001 order-srv, 9002 stock-srv, 8889 order-api
EXPOSE 36789 36790 9001 9002 8889
CMD ["dtm", "-v"]

# ---- etcd -------------------------------------------------------------------------
# The registry the services and the coordinator register in (README, "Service
# discovery"), from Debian's packages like everything else. One member, data
# in the container (a registry holds only leases that die with their owners).
FROM ${BASE_IMAGE} AS etcd
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends etcd-server etcd-client \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
ENV ETCDCTL_API=3
EXPOSE 2379
CMD ["etcd", "--name", "cdtm", "--data-dir", "/tmp/etcd", \
     "--listen-client-urls", "http://0.0.0.0:2379", \
     "--advertise-client-urls", "http://etcd:2379"]
