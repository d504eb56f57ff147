"""The Multi-Agency Safeguarding Hub library: contracts, landing, ingestion and the store, free of Airflow."""

__version__ = "0.1.0"
