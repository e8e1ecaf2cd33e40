"""Who exports messages for compliance: holders of `governance.export_compliance` (granted
with `manage.py compliance_exporter`) and the owner.

A permission of its own, not the legal-hold one: placing a hold keeps messages, an export reads
them all, so an organisation may give the two to different people. Administrators get neither
with their role (`apps.accounts.roles.ADMIN_DENIED`).
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import Role, User
from apps.core.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from apps.governance.compliance_export.models import ComplianceExport, ComplianceExportStatus

EXPORT_PERMISSION = "governance.export_compliance"


def may_export_compliance(*, user: User) -> bool:
    """The owner and holders of the export permission, while active."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.role == Role.OWNER or user.has_perm(EXPORT_PERMISSION)


def access_compliance_export_manage(*, user: User) -> None:
    """Raise unless `user` may request, list and download compliance exports."""
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")
    if not may_export_compliance(user=user):
        raise Forbidden(
            _("Only compliance officers with the export permission export messages."),
            code="not_compliance_exporter",
        )


def access_compliance_export(*, user: User, export_id: int) -> ComplianceExport:
    """An export `user` may see (any, for whoever may export)."""
    access_compliance_export_manage(user=user)
    export = ComplianceExport.objects.select_related("requested_by").filter(pk=export_id).first()
    if export is None:
        raise NotFound(_("No such compliance export."), code="compliance_export_not_found")
    return export


def access_compliance_export_download(*, user: User, export_id: int) -> ComplianceExport:
    """An export whose ZIP `user` may download now: built, and not expired."""
    export = access_compliance_export(user=user, export_id=export_id)
    expired = export.status == ComplianceExportStatus.EXPIRED or (
        export.expires_at is not None and export.expires_at <= timezone.now()
    )
    if expired:
        raise NotFound(
            _("This compliance export has expired; request a new one."),
            code="compliance_export_expired",
        ).with_status(410)
    if export.status != ComplianceExportStatus.READY or not export.storage_name:
        raise Conflict(
            _("This compliance export is not ready yet."), code="compliance_export_not_ready"
        )
    return export
