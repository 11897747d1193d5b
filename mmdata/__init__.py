"""mmdata: the data library (sources, per-modality kernels, annotation, sharding, manifests).

Importable and testable without a Prefect server or a DVC repository: flows only compose.
"""

__version__ = "0.1.0"
