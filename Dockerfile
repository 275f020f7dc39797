# Production image: the official Airflow image plus this project, pinned by our lock file.
# AIRFLOW_BASE_IMAGE selects another base with the same contract, e.g. the locally built
# stand-in of docker/airflow-base/ on machines that cannot pull the official image.
ARG AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_BASE_IMAGE}

# Install the package and its runtime dependencies at the locked versions (the lock is used as
# constraints, so dev tools in it are not installed). Airflow itself is already in the image.
# The sources come in through a bind mount of the build context and are copied to a
# throw-away folder removed in the same layer: no layer holds them, only the installed package.
# podman/buildah (unlike BuildKit) reuse this step's cache when only the mounted files
# changed: docker/podman_stack.py passes their digest here, so a change reruns the install.
ARG PAYWALL_SOURCE_DIGEST=""
# hadolint ignore=DL3013
RUN --mount=type=bind,target=/tmp/paywall-context \
    echo "sources ${PAYWALL_SOURCE_DIGEST:-not given}" \
    && mkdir /tmp/paywall-src \
    && cp -r /tmp/paywall-context/pyproject.toml /tmp/paywall-context/requirements.lock \
        /tmp/paywall-context/README.md /tmp/paywall-context/plugins /tmp/paywall-src/ \
    && pip install --no-cache-dir --constraint /tmp/paywall-src/requirements.lock /tmp/paywall-src \
    && rm -rf /tmp/paywall-src

COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 config/pipeline.yaml /opt/airflow/config/pipeline.yaml

ENV PAYWALL_CONFIG=/opt/airflow/config/pipeline.yaml
