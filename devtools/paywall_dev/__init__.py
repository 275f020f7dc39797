"""Development-only tooling: embedded S3 servers, the local stack behind ``make run`` /
``make up``, and the PostgreSQL + Redis + Celery deployment behind ``make cluster-up``.

Not part of the product: the wheel and the Docker image hold ``paywall`` only, and nothing in
``paywall`` imports this package. ``scripts/setup.sh`` installs it (editable) into the
development virtualenv beside the product.
"""
