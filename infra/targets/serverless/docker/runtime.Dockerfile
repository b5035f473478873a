# The local stand-in for Lambda's managed Python runtime (built by images.py; no registry).
# Real Lambda: Amazon Linux with /var/lang/bin/python3; here: the Debian base's python3.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ARG PYTHON_VERSION
ARG SANDBOX_UID

# The zip is built for this exact Python; fail the build, not the first request, if it differs.
RUN python3 -c "import sys; v = '%d.%d' % sys.version_info[:2]; \
    assert v == '${PYTHON_VERSION}', 'base image has Python ' + v + ', expected ${PYTHON_VERSION}'"

# Lambda runs functions as an unprivileged user (sbx_user1051) with no login shell.
RUN groupadd --system --gid "${SANDBOX_UID}" sbx_user1051 \
 && useradd --system --uid "${SANDBOX_UID}" --gid "${SANDBOX_UID}" --no-create-home \
      --home-dir /tmp --shell /usr/sbin/nologin sbx_user1051

# AWS's runtime client in /var/runtime (Lambda's LAMBDA_RUNTIME_DIR), the harness beside it.
COPY runtime.zip runtime_api.py gateway.py /tmp/build/
RUN python3 -m zipfile -e /tmp/build/runtime.zip /var/runtime \
 && rm -f /var/runtime/shipways-artifact.json \
 && install -D -m 0644 /tmp/build/runtime_api.py /var/harness/runtime_api.py \
 && install -D -m 0644 /tmp/build/gateway.py /var/harness/gateway.py \
 && rm -rf /tmp/build \
 && mkdir -p /var/task \
 && chmod -R a+rX,go-w /var/runtime /var/harness /var/task

WORKDIR /var/task
USER ${SANDBOX_UID}:${SANDBOX_UID}
ENTRYPOINT ["python3"]
