# syntax=docker/dockerfile:1
# envoi: build with cargo-chef so dependencies are a cached layer of their
# own (rebuilt only when Cargo.toml or Cargo.lock change), then a small
# Debian image with the binary alone.

FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked
WORKDIR /src

# The dependency list of the workspace, without its sources.
FROM chef AS plan
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=plan /src/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json -p gateway --bin envoi
COPY . .
# The commit for `envoi --version` (.git is not sent to the builder):
# docker build --build-arg ENVOI_GIT_COMMIT=$(git rev-parse --short=12 HEAD) .
ARG ENVOI_GIT_COMMIT=unknown
RUN ENVOI_GIT_COMMIT=$ENVOI_GIT_COMMIT cargo build --release -p gateway --bin envoi \
 && strip target/release/envoi

# Run stage: a small Debian with CA roots (for TLS to recipients' MXs).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/envoi --create-home envoi \
 && install -d -o envoi -m 0700 /var/lib/envoi-key
COPY --from=build /src/target/release/envoi /usr/local/bin/envoi
# Listen on all interfaces inside the container; mount your own config at
# /etc/envoi/envoi.toml to change more (docs/configuration.md lists every key).
# SMTP AUTH needs [smtp] tls_cert and tls_key here: connections from outside
# the container are not loopback.
RUN mkdir -p /etc/envoi \
 && printf '[http]\nlisten = "0.0.0.0:8080"\n[smtp]\nlisten = "0.0.0.0:2587"\n[store]\nurl = "sqlite:///var/lib/envoi/envoi.db"\n' > /etc/envoi/envoi.toml
# The data (SQLite store) and the master key live apart: back them up
# separately, and the key can be a secret mounted instead (or given as
# ENVOI_MASTER_KEY). Without one, envoi generates the key file there.
ENV ENVOI_MASTER_KEY_FILE=/var/lib/envoi-key/envoi.master-key
USER envoi
WORKDIR /var/lib/envoi
VOLUME ["/var/lib/envoi", "/var/lib/envoi-key"]
# The ports the config above opens: HTTP API and SMTP submission.
EXPOSE 8080 2587
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["envoi", "health", "--config", "/etc/envoi/envoi.toml"]
ENTRYPOINT ["envoi"]
CMD ["serve", "--config", "/etc/envoi/envoi.toml"]
