#!/bin/sh
# Render Parley's nginx server from the environment (run by the nginx image's entrypoint, or by the tests):
# plain HTTP by default; TLS for DOMAIN when DOMAIN, TLS_CERTIFICATE and TLS_CERTIFICATE_KEY are all set.
set -eu
: "${PARLEY_NGINX_DIR:=/etc/nginx/parley}" "${PARLEY_NGINX_OUTPUT:=/etc/nginx/conf.d/default.conf}"
: "${PARLEY_UPSTREAM:=web:5000}" "${MAX_REQUEST_BYTES:=65536}" "${NGINX_HTTP_PORT:=80}" "${NGINX_HTTPS_PORT:=443}"
: "${DOMAIN:=}" "${TLS_CERTIFICATE:=}" "${TLS_CERTIFICATE_KEY:=}"
export PARLEY_NGINX_DIR PARLEY_UPSTREAM MAX_REQUEST_BYTES NGINX_HTTP_PORT NGINX_HTTPS_PORT DOMAIN TLS_CERTIFICATE \
  TLS_CERTIFICATE_KEY

if [ -n "$DOMAIN" ] && [ -n "$TLS_CERTIFICATE" ] && [ -n "$TLS_CERTIFICATE_KEY" ]; then
  template=parley-tls.conf.template
  echo "$0: TLS for $DOMAIN"
elif [ -n "$DOMAIN$TLS_CERTIFICATE$TLS_CERTIFICATE_KEY" ]; then
  echo "$0: set DOMAIN, TLS_CERTIFICATE and TLS_CERTIFICATE_KEY together (or none for plain HTTP)" >&2
  exit 1
else
  template=parley-http.conf.template
  echo "$0: plain HTTP (set DOMAIN, TLS_CERTIFICATE and TLS_CERTIFICATE_KEY for TLS)"
fi
# Only Parley's variables: nginx's own ($host, $remote_addr, ...) stay as they are.
envsubst '${PARLEY_NGINX_DIR} ${PARLEY_UPSTREAM} ${MAX_REQUEST_BYTES} ${NGINX_HTTP_PORT} ${NGINX_HTTPS_PORT}
  ${DOMAIN} ${TLS_CERTIFICATE} ${TLS_CERTIFICATE_KEY}' < "$PARLEY_NGINX_DIR/$template" > "$PARLEY_NGINX_OUTPUT"
