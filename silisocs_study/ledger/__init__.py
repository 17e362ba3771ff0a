"""The run ledger: one record file per run is the truth; everything else is a view of it."""
from .records import RECORD_SCHEMA_VERSION, Ledger, utc_now

__all__ = ["Ledger", "RECORD_SCHEMA_VERSION", "utc_now"]
