# mariadb.Dockerfile: the database of the compose stack, from the same Debian
# base as the programs (BASE_IMAGE; see ../Dockerfile). It holds MariaDB and
# the repository's sql/*.sql, which docker/mariadb-entrypoint.sh loads when
# the data folder is new (the first `up` after a `down -v`). Built with the
# repository as the context: docker-compose.yml sets it.
ARG BASE_IMAGE=local/bookworm:minbase
FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# The server and the client tools only (mariadbd, mariadb-install-db, mariadb,
# mariadb-admin), not the mariadb-server package: that one adds Galera, rsync,
# socat and the SysV scripts, about 100 MB that a test database never uses.
# Its preinst would have made the `mysql` account, so that is done here. The
# entrypoint makes the data folder in the volume, from sql/*.sql alone.
RUN apt-get update \
 && apt-get install -y --no-install-recommends mariadb-server-core mariadb-client \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && useradd --system --user-group --home-dir /var/lib/mysql --no-create-home \
      --shell /usr/sbin/nologin mysql \
 && mkdir -p /run/mysqld /var/lib/mysql && chown mysql:mysql /run/mysqld /var/lib/mysql

COPY sql/*.sql /docker-entrypoint-initdb.d/
COPY docker/mariadb-entrypoint.sh /usr/local/bin/mariadb-entrypoint.sh
VOLUME /var/lib/mysql
EXPOSE 3306
ENTRYPOINT ["mariadb-entrypoint.sh"]
