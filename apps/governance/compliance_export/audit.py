"""The audit codes of the compliance export (labels registered in its `admin.py`)."""

COMPLIANCE_EXPORT_REQUESTED = "compliance_export.requested"
COMPLIANCE_EXPORT_DOWNLOADED = "compliance_export.downloaded"
COMPLIANCE_EXPORTER_GRANTED = "compliance_exporter.granted"
COMPLIANCE_EXPORTER_REVOKED = "compliance_exporter.revoked"
