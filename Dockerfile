# dumptruck: the Slack bot by default, the CLI when given a command (docker/entrypoint.sh).
#   docker build -t dumptruck .
#   docker build --build-arg PG_MAJOR=17 -t dumptruck:pg17 .   # pg_dump N dumps servers up to N
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc before the sources are here. It also skips the `node`
# dev dependency's download (the image's own Node 24 runs everything here).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE}
# pg_dump from the PostgreSQL project's apt repository (PGDG): Debian's own is one major behind.
ARG PG_MAJOR=18
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    # age encrypts backups for targets with encrypt: (a child process, like pg_dump); bash's
    # process substitution hands verify the private key through a pipe.
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" age bash; \
    apt-get purge -y --auto-remove curl; \
    rm -rf /var/lib/apt/lists/*; \
    "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version; \
    age --version

ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only; --ignore-scripts again: `prepare` needs the dev dependencies.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY docker/entrypoint.sh ./docker/entrypoint.sh

# The node image's unprivileged user (uid 1000). Mount the config at /app/dumptruck.yml
# (or set DUMPTRUCK_CONFIG) and pass secrets as environment variables.
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
