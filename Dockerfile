# The hub's Airflow image: the official Apache Airflow 3 image with this project installed (the `mash` library,
# its DAGs, migrations, SQL and sharing policy). Built by docker-compose.yml; see docs/operations.md.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION
USER airflow
COPY --chown=airflow:root pyproject.toml README.md /opt/mash/
COPY --chown=airflow:root plugins /opt/mash/plugins
COPY --chown=airflow:root dags /opt/mash/dags
# A regular install: migrations, views, roles, expectation suites and the shipped configuration are package data;
# pinned to the image's Airflow, with the `deploy` extra (the celery provider, a Celery it works with, the Redis
# client): the packages `make test-deployment` runs.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/mash[deploy]"
