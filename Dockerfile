# Both servers in one image: `docker build -t dp5-psepr .`
#   docker run -p 23345:23345 -p 23343:23343 dp5-psepr                       # psepr server
#   docker run -v $PWD/regserver.cfg:/etc/dp5/regserver.cfg dp5-psepr dp5 server /etc/dp5/regserver.cfg
# Logs go to standard error (docker logs). The monitoring port binds 127.0.0.1 unless the
# configuration sets /PsEPRServer/monitor/bindAddress (0.0.0.0 to publish 8223).
FROM swift:6.1-bookworm AS build
WORKDIR /src
COPY . .
RUN swift build -c release --product psepr && swift build -c release --product dp5 \
    && scripts/install.sh --destdir /staging --prefix /usr/local --binaries "$(swift build -c release --show-bin-path)"

FROM swift:6.1-bookworm-slim
COPY --from=build /staging/ /
RUN groupadd --system psepr && useradd --system --gid psepr --home-dir /usr/local/psepr psepr \
    && groupadd --system dp5 && useradd --system --gid dp5 --home-dir /var/lib/dp5 dp5 \
    && chown psepr:psepr /usr/local/psepr/logs/PsEPRServer && chown dp5:dp5 /var/lib/dp5
USER psepr
WORKDIR /usr/local/psepr
EXPOSE 23345 23343 23341 8223
HEALTHCHECK --interval=30s --timeout=5s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8223 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"]
CMD ["psepr", "server"]
