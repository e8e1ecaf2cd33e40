"""`manage.py export_organization OUT.zip --actor ADMIN`: the organisation's people, channels
and history in Mattermost's bulk format (apps/governance/org_export.py), for
`manage.py import_mattermost` on another Enclave."""

from __future__ import annotations

from typing import IO, Any

from apps.accounts.models import User
from apps.governance.importers.command import ActorFileCommand
from apps.governance.org_export import organization_export


class Command(ActorFileCommand):
    help = "Export the organisation (people, channels, messages, files) for import elsewhere."
    file_mode = "xb"
    file_help = "The ZIP file to write (it must not exist)."

    def run(self, file: IO[bytes], actor: User) -> dict[str, Any]:
        return dict(organization_export(target=file, actor=actor))
