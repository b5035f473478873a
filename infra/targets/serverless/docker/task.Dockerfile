# One function release: the runtime image plus the deployment zip, unpacked as Lambda does
# into /var/task, owned by root and read-only to the function (built by images.py).
ARG RUNTIME_IMAGE
FROM ${RUNTIME_IMAGE}
ARG SANDBOX_UID
USER root
COPY function.zip /tmp/function.zip
RUN python3 -m zipfile -e /tmp/function.zip /var/task \
 && rm /tmp/function.zip \
 && chmod -R a+rX,go-w /var/task
USER ${SANDBOX_UID}:${SANDBOX_UID}
