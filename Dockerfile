# Production image: the official Airflow image plus this project, pinned by our lock file.
FROM apache/airflow:3.3.2-python3.11

# Install the package and its runtime dependencies at the locked versions (the lock is used as
# constraints, so dev tools in it are not installed). Airflow itself is already in the image.
COPY --chown=airflow:root pyproject.toml requirements.lock README.md /opt/paywall/
COPY --chown=airflow:root plugins/ /opt/paywall/plugins/
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --constraint /opt/paywall/requirements.lock /opt/paywall

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root config/pipeline.yaml /opt/airflow/config/pipeline.yaml

ENV PAYWALL_CONFIG=/opt/airflow/config/pipeline.yaml
