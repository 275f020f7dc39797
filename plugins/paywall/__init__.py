"""Paywall-segment content pipeline: split articles at FastAdmin paywall markers.

The core is Airflow-free; ``paywall.airflow_adapter`` is the only module importing Airflow.
"""

__version__ = "0.1.1"
