# Build stage: the whole workspace, only the envoi binary is kept.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p gateway --bin envoi \
 && strip target/release/envoi

# Run stage: a small Debian with CA roots (for TLS to recipients' MXs).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/envoi --create-home envoi
COPY --from=build /src/target/release/envoi /usr/local/bin/envoi
# Listen on all interfaces inside the container; mount your own config to change more.
RUN mkdir -p /etc/envoi \
 && printf '[http]\nlisten = "0.0.0.0:8080"\n[smtp]\nlisten = "0.0.0.0:2587"\n[store]\nurl = "sqlite:///var/lib/envoi/envoi.db"\n' > /etc/envoi/envoi.toml
USER envoi
WORKDIR /var/lib/envoi
# The SQLite store and, when ENVOI_MASTER_KEY is unset, the generated master key.
VOLUME /var/lib/envoi
EXPOSE 8080 2587 2525
ENTRYPOINT ["envoi"]
CMD ["serve", "--config", "/etc/envoi/envoi.toml"]
