"""Incoming webhook payloads -> the Markdown of one chat message.

Each `*_message(payload, headers)` takes the decoded JSON (and the request headers, where the
event kind lives in one) and returns the text to post, or raises `PayloadError` when the
payload is not of that format. Only what people read is kept: titles, states, links, who.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from django.utils.translation import gettext as _

from apps.core.errors import InvalidInput


class PayloadError(InvalidInput):
    code = "invalid_payload"


def _str(value: Any, limit: int = 500) -> str:
    return str(value)[:limit] if value is not None else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _link(text: str, url: str) -> str:
    text = text.replace("[", "(").replace("]", ")")
    if url.startswith(("http://", "https://")):
        return f"[{text}]({url})"
    return text


# --- Slack --------------------------------------------------------------------------------------

_SLACK_LINK = re.compile(r"<([^<>|\s]+)(?:\|([^<>]*))?>")
_SLACK_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_SLACK_STRIKE = re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])")


def slack_mrkdwn(text: str) -> str:
    """Slack's mrkdwn to Markdown: <url|label>, *bold*, ~strike~ (_italic_ and `code` agree)."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@") or target.startswith("#"):
            return label or target  # <@U123> user and <#C123> channel ids mean nothing here
        if target.startswith("!"):
            return "@" + target[1:].split("^", 1)[0]  # <!here>, <!channel>
        return _link(label or target, target) if label else target

    text = _SLACK_LINK.sub(link, text)
    text = _SLACK_BOLD.sub(r"**\1**", text)
    text = _SLACK_STRIKE.sub(r"~~\1~~", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _block_text(value: Any) -> str:
    obj = _dict(value)
    text = _str(obj.get("text"), 3000)
    return slack_mrkdwn(text) if obj.get("type") == "mrkdwn" else text


def _slack_blocks(blocks: list[Any]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        block = _dict(block)
        kind = block.get("type")
        if kind == "header":
            lines.append("### " + _block_text(block.get("text")))
        elif kind == "section":
            if block.get("text"):
                lines.append(_block_text(block.get("text")))
            fields = [_block_text(f) for f in _list(block.get("fields"))]
            lines.extend(f"- {f}" for f in fields if f)
        elif kind == "context":
            parts = [_block_text(e) for e in _list(block.get("elements")) if _dict(e).get("text")]
            if parts:
                lines.append("_" + " · ".join(parts) + "_")
        elif kind == "divider":
            lines.append("---")
        elif kind == "rich_text":
            lines.append(_str(block.get("text"), 3000))
    return [line for line in lines if line.strip()]


def _slack_attachments(attachments: list[Any]) -> list[str]:
    lines: list[str] = []
    for attachment in attachments:
        att = _dict(attachment)
        if att.get("pretext"):
            lines.append(slack_mrkdwn(_str(att["pretext"], 3000)))
        title = _str(att.get("title"), 300)
        if title:
            link = _str(att.get("title_link"), 2000)
            lines.append("**" + (_link(title, link) if link else title) + "**")
        if att.get("text"):
            lines.append(slack_mrkdwn(_str(att["text"], 3000)))
        for field in _list(att.get("fields")):
            fld = _dict(field)
            name, value = _str(fld.get("title"), 200), slack_mrkdwn(_str(fld.get("value"), 1000))
            lines.append(f"- **{name}**: {value}" if name else f"- {value}")
        if not any(att.get(k) for k in ("pretext", "title", "text", "fields")) and att.get(
            "fallback"
        ):
            lines.append(_str(att["fallback"], 3000))
        if att.get("footer"):
            lines.append("_" + _str(att["footer"], 300) + "_")
        lines.extend(_slack_blocks(_list(att.get("blocks"))))
    return lines


def slack_message(payload: Any, headers: Mapping[str, str]) -> str:
    body = _dict(payload)
    if not body:
        raise PayloadError(_("The payload must be a JSON object."))
    parts: list[str] = []
    blocks = _slack_blocks(_list(body.get("blocks")))
    # Slack shows `text` only as the notification fallback when blocks are present.
    if body.get("text") and not blocks:
        parts.append(slack_mrkdwn(_str(body["text"], 40000)))
    parts.extend(blocks)
    parts.extend(_slack_attachments(_list(body.get("attachments"))))
    if not parts:
        raise PayloadError(_("The payload has no text, blocks or attachments."))
    return "\n".join(parts)


# --- GitLab -------------------------------------------------------------------------------------


def _gitlab_push(body: dict[str, Any]) -> str:
    project = _dict(body.get("project"))
    name = _str(project.get("path_with_namespace") or project.get("name"), 200)
    ref = _str(body.get("ref"), 200).removeprefix("refs/heads/").removeprefix("refs/tags/")
    commits = _list(body.get("commits"))
    total = body.get("total_commits_count", len(commits))
    who = _str(body.get("user_name") or body.get("user_username"), 100)
    lines = [
        _("%(who)s pushed %(count)s commit(s) to %(ref)s in %(project)s")
        % {
            "who": who,
            "count": total,
            "ref": f"`{ref}`",
            "project": _link(name, _str(project.get("web_url"), 2000)),
        }
    ]
    for commit in commits[:10]:
        c = _dict(commit)
        title = _str(c.get("title") or _str(c.get("message")).split("\n", 1)[0], 200)
        sha = _str(c.get("id"), 40)[:8]
        author = _str(_dict(c.get("author")).get("name"), 100)
        lines.append(f"- {_link(sha, _str(c.get('url'), 2000))} {title} ({author})")
    return "\n".join(lines)


def _gitlab_merge_request(body: dict[str, Any]) -> str:
    attrs = _dict(body.get("object_attributes"))
    project = _dict(body.get("project"))
    who = _str(_dict(body.get("user")).get("name"), 100)
    action = _str(attrs.get("action") or attrs.get("state"), 40)
    title = f"!{_str(attrs.get('iid'), 20)} {_str(attrs.get('title'), 300)}"
    lines = [
        _("%(who)s %(action)s merge request %(title)s in %(project)s")
        % {
            "who": who,
            "action": action,
            "title": _link(title, _str(attrs.get("url"), 2000)),
            "project": _str(project.get("path_with_namespace") or project.get("name"), 200),
        },
        f"`{_str(attrs.get('source_branch'), 200)}` → `{_str(attrs.get('target_branch'), 200)}`",
    ]
    return "\n".join(lines)


_PIPELINE_ICONS = {"success": "✅", "failed": "❌", "canceled": "⚪", "running": "🔄"}


def _gitlab_pipeline(body: dict[str, Any]) -> str:
    attrs = _dict(body.get("object_attributes"))
    project = _dict(body.get("project"))
    status = _str(attrs.get("status"), 40)
    pipeline_id = _str(attrs.get("id"), 20)
    url = _str(attrs.get("url"), 2000) or (
        f"{_str(project.get('web_url'), 2000)}/-/pipelines/{pipeline_id}"
    )
    lines = [
        _("%(icon)s Pipeline %(pipeline)s %(status)s for %(ref)s in %(project)s")
        % {
            "icon": _PIPELINE_ICONS.get(status, "•"),
            "pipeline": _link(f"#{pipeline_id}", url),
            "status": status,
            "ref": f"`{_str(attrs.get('ref'), 200)}`",
            "project": _str(project.get("path_with_namespace") or project.get("name"), 200),
        }
    ]
    failed = [
        _str(_dict(b).get("name"), 100)
        for b in _list(body.get("builds"))
        if _dict(b).get("status") == "failed"
    ]
    if failed:
        lines.append(_("Failed jobs: %(jobs)s") % {"jobs": ", ".join(failed[:10])})
    return "\n".join(lines)


_GITLAB_EVENTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "push": _gitlab_push,
    "tag_push": _gitlab_push,
    "merge_request": _gitlab_merge_request,
    "pipeline": _gitlab_pipeline,
}


def gitlab_message(payload: Any, headers: Mapping[str, str]) -> str:
    body = _dict(payload)
    kind = _str(body.get("object_kind"), 40)
    render = _GITLAB_EVENTS.get(kind)
    if render is None:
        raise PayloadError(
            _("GitLab event %(kind)s is not supported (push, merge request, pipeline).")
            % {"kind": kind or headers.get("x-gitlab-event", "?")},
            code="unsupported_event",
        )
    return render(body)


# --- Jenkins (Notification plugin) --------------------------------------------------------------


def jenkins_message(payload: Any, headers: Mapping[str, str]) -> str:
    body = _dict(payload)
    build = _dict(body.get("build"))
    if not body.get("name") or not build:
        raise PayloadError(_("Not a Jenkins notification (name and build are required)."))
    phase = _str(build.get("phase"), 40)
    status = _str(build.get("status"), 40)
    url = _str(build.get("full_url"), 2000)
    icon = {"SUCCESS": "✅", "FAILURE": "❌", "UNSTABLE": "⚠️", "ABORTED": "⚪"}.get(status, "•")
    job = _str(body.get("display_name") or body.get("name"), 200)
    line = _("%(icon)s Jenkins %(job)s %(build)s: %(phase)s %(status)s") % {
        "icon": icon if status else "🔄",
        "job": f"**{job}**",
        "build": _link(f"#{_str(build.get('number'), 20)}", url),
        "phase": phase.lower(),
        "status": status,
    }
    scm = _dict(build.get("scm"))
    if scm.get("branch") or scm.get("commit"):
        line += f"\n`{_str(scm.get('branch'), 200)}` {_str(scm.get('commit'), 40)[:8]}"
    return line.strip()


# --- Prometheus Alertmanager --------------------------------------------------------------------


def alertmanager_message(payload: Any, headers: Mapping[str, str]) -> str:
    body = _dict(payload)
    alerts = _list(body.get("alerts"))
    if "version" not in body or not alerts:
        raise PayloadError(_("Not an Alertmanager notification (version and alerts required)."))
    status = _str(body.get("status"), 20)
    labels = _dict(body.get("commonLabels"))
    name = _str(labels.get("alertname") or _dict(body.get("groupLabels")).get("alertname"), 200)
    icon = "🔥" if status == "firing" else "✅"
    lines = [f"{icon} **[{status.upper()}:{len(alerts)}] {name}**"]
    for alert in alerts[:20]:
        a = _dict(alert)
        alert_labels = _dict(a.get("labels"))
        annotations = _dict(a.get("annotations"))
        summary = _str(annotations.get("summary") or annotations.get("description"), 500)
        where = _str(alert_labels.get("instance"), 200)
        severity = _str(alert_labels.get("severity"), 40)
        text = " ".join(p for p in (f"`{where}`" if where else "", summary) if p)
        prefix = f"[{severity}] " if severity else ""
        link = _str(a.get("generatorURL"), 2000)
        lines.append(f"- {prefix}{text}" + (f" ({_link(_('source'), link)})" if link else ""))
    if len(alerts) > 20:
        lines.append(_("… and %(count)d more") % {"count": len(alerts) - 20})
    return "\n".join(lines)


FORMATS: dict[str, Callable[[Any, Mapping[str, str]], str]] = {
    "slack": slack_message,
    "gitlab": gitlab_message,
    "jenkins": jenkins_message,
    "alertmanager": alertmanager_message,
}
